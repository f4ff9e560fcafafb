"""Real corpora that install offline (see DATA.md), fetched once into the data directory."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.contracts.events import DocumentChanged

__all__ = [
    "DATASETS",
    "FaqEntry",
    "dataset_documents",
    "faq_entries",
    "folder_documents",
    "python_docs_folder",
]

DATASETS = ("python-docs",)
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".markdown")
_PY_DOCS = "usr/share/doc/python3.11/html/_sources"
_UNDERLINE = re.compile(r"^([=\-~^\"'`*+#<>:.])\1{2,}\s*$")


def python_docs_folder(cache: Path) -> Path:
    """Return the Python 3.11 documentation sources, fetching Debian's `python3.11-doc` once."""
    target = cache / "python3.11-doc"
    sources = target / _PY_DOCS
    if sources.is_dir():
        return sources
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise RuntimeError(
                f"{tool} is not on PATH: the python-docs dataset comes from Debian's "
                "python3.11-doc package; ingest a folder instead (`pillars ingest PATH`)"
            )
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / "python3.11-doc.partial"
    with tempfile.TemporaryDirectory() as work:
        try:
            _run(["apt-get", "download", "python3.11-doc"], cwd=work)
            [deb] = Path(work).glob("python3.11-doc_*.deb")
            shutil.rmtree(partial, ignore_errors=True)
            _run(["dpkg", "-x", str(deb), str(partial)], cwd=work)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"could not fetch Debian's python3.11-doc ({' '.join(exc.cmd)}): "
                f"{exc.stderr.strip()[-500:]}; `apt-get update` may be needed first"
            ) from exc
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return sources


def _run(command: list[str], cwd: str) -> None:
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)


def _document_id(relative: Path) -> str:
    """Return a path as a document id: no '/' (ids name one entity) and no suffix."""
    return ":".join(relative.with_suffix("").with_suffix("").parts)


def folder_documents(root: Path, tenant: str, source_prefix: str = "") -> Iterator[DocumentChanged]:
    """Yield a document per text/markdown file under `root`, and one per line of JSONL files.

    A JSONL line holds `text` and optionally `document_id` (or `id`), `title`,
    `source`, `version`; a line without an id gets `<file>:<line number>`.
    """
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if path.suffix == ".jsonl":
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if line.strip():
                    record = json.loads(line)
                    yield DocumentChanged(
                        tenant=tenant,
                        document_id=str(
                            record.get("document_id")
                            or record.get("id")
                            or f"{_document_id(relative)}:{number}"
                        ),
                        title=str(record.get("title", "")),
                        source=str(record.get("source", "")),
                        version=int(record.get("version", 1)),
                        text=str(record["text"]),
                    )
        elif path.name.endswith(TEXT_SUFFIXES) or path.name.endswith(".rst.txt"):
            text = path.read_text(errors="replace")
            yield DocumentChanged(
                tenant=tenant,
                document_id=_document_id(relative),
                title=next((line.strip() for line in text.splitlines() if line.strip()), ""),
                source=f"{source_prefix}{relative}",
                text=text,
            )


def dataset_documents(
    name: str, cache: Path, tenant: str, *, sample: int | None = None
) -> list[DocumentChanged]:
    """Return the documents of a named dataset; `sample` keeps the FAQ plus a fixed sample."""
    if name != "python-docs":
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    root = python_docs_folder(cache)
    documents = [
        d.model_copy(update={"source": f"https://docs.python.org/3.11/{d.source}"})
        for d in folder_documents(root, tenant)
    ]
    if sample is not None:
        faq = [d for d in documents if d.document_id.startswith("faq:")]
        rest = [d for d in documents if not d.document_id.startswith("faq:")]
        # A fixed seed: the same sample every run, so runs compare (not a security use).
        documents = faq + random.Random(11).sample(rest, min(sample, len(rest)))  # noqa: S311
    return documents


@dataclass(frozen=True)
class FaqEntry:
    """One FAQ question and the text of its answer section (heading excluded)."""

    question: str
    answer: str


def faq_entries(rst: str) -> list[FaqEntry]:
    """Split a reStructuredText FAQ page into its questions: headings that end in "?".

    An answer runs from its heading's underline to the next heading of any level.
    """
    lines = rst.splitlines()
    headings = [
        i
        for i in range(len(lines) - 1)
        if lines[i].strip()
        and not lines[i][0].isspace()
        and _UNDERLINE.match(lines[i + 1])
        and len(lines[i + 1].rstrip()) >= len(lines[i].rstrip())
    ]
    entries = []
    for at, start in enumerate(headings):
        question = lines[start].strip()
        end = headings[at + 1] if at + 1 < len(headings) else len(lines)
        body = lines[start + 2 : end]
        if body and _UNDERLINE.match(body[-1]):  # the next heading's overline
            body = body[:-1]
        answer = "\n".join(body).strip()
        if question.endswith("?") and answer:
            entries.append(FaqEntry(question=question, answer=answer))
    return entries

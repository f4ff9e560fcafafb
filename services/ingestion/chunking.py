"""Split document text into overlapping passages on paragraph and sentence boundaries."""

from __future__ import annotations

import re
import uuid

__all__ = ["CHUNK_NAMESPACE", "chunk_id", "split_passages"]

CHUNK_NAMESPACE = uuid.UUID("5d0a7f5c-52e4-4c1b-9a57-0c3f3a8e0b11")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def chunk_id(tenant: str, document_id: str, index: int, text: str) -> uuid.UUID:
    """Return the id of a chunk: the same text at the same place always gets the same id."""
    return uuid.uuid5(CHUNK_NAMESPACE, f"{tenant}/{document_id}/{index}/{text}")


def _pieces(text: str, size: int) -> list[str]:
    """Break text into paragraphs, then sentences, then hard slices, each at most `size`."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        sentences = [paragraph] if len(paragraph) <= size else _SENTENCE_END.split(paragraph)
        for sentence in sentences:
            pieces.extend(sentence[i : i + size] for i in range(0, len(sentence), size))
    return pieces


def split_passages(text: str, size: int, overlap: int) -> list[str]:
    """Return passages of at most about `size` characters, each starting with the previous tail."""
    passages: list[str] = []
    current = ""
    for piece in _pieces(text, size):
        if current and len(current) + 1 + len(piece) > size:
            passages.append(current)
            tail = current[-overlap:] if overlap else ""
            # Start the overlap at a word boundary so no passage begins mid-word.
            current = tail[tail.find(" ") + 1 :] if " " in tail else ""
        current = f"{current} {piece}".strip()
    if current:
        passages.append(current)
    return passages

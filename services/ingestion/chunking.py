"""Split document text into overlapping, token-bounded passages on natural boundaries."""

from __future__ import annotations

import re
import uuid

from services.ingestion.ports import Tokenizer

__all__ = ["CHUNK_NAMESPACE", "chunk_id", "split_passages"]

CHUNK_NAMESPACE = uuid.UUID("5d0a7f5c-52e4-4c1b-9a57-0c3f3a8e0b11")
_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def chunk_id(tenant: str, document_id: str, index: int, text: str) -> uuid.UUID:
    """Return the id of a chunk: the same text at the same place always gets the same id."""
    return uuid.uuid5(CHUNK_NAMESPACE, f"{tenant}/{document_id}/{index}/{text}")


def _pieces(text: str, tokens: Tokenizer, size: int) -> list[tuple[str, int]]:
    """Break text into sentences (paragraph ends included), each of at most `size` tokens."""
    sentences = [
        " ".join(sentence.split())
        for paragraph in _PARAGRAPH.split(text)
        for sentence in _SENTENCE_END.split(paragraph)
    ]
    sentences = [s for s in sentences if s]
    pieces: list[tuple[str, int]] = []
    for sentence, count in zip(sentences, tokens.count(sentences), strict=True):
        if count <= size:
            pieces.append((sentence, count))
        else:  # a sentence longer than a chunk is cut at token boundaries
            windows = tokens.windows(sentence, size)
            pieces.extend(zip(windows, tokens.count(windows), strict=True))
    return pieces


def split_passages(text: str, *, tokens: Tokenizer, size: int, overlap: int) -> list[str]:
    """Pack whole sentences into passages of at most `size` tokens.

    Each passage after the first repeats the previous one's last sentences, up to
    `overlap` tokens, so an answer that spans a boundary is still found whole.
    """
    passages: list[str] = []
    current: list[tuple[str, int]] = []
    for piece in _pieces(text, tokens, size):
        if current and sum(c for _, c in current) + piece[1] > size:
            passages.append(" ".join(s for s, _ in current))
            carried: list[tuple[str, int]] = []
            for sentence in reversed(current):
                total = sum(c for _, c in carried) + sentence[1]
                if total > overlap or total + piece[1] > size:
                    break
                carried.insert(0, sentence)
            current = carried
        current.append(piece)
    if current:
        passages.append(" ".join(s for s, _ in current))
    return passages

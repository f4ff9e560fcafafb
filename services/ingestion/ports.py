"""What the ingestion handlers need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["Tokenizer"]


class Tokenizer(Protocol):
    """The embedding model's tokenizer, as far as chunking needs it."""

    def count(self, texts: Sequence[str]) -> list[int]:
        """Return how many tokens each text is, without special tokens."""
        ...

    def windows(self, text: str, size: int) -> list[str]:
        """Cut `text` into consecutive pieces of at most `size` tokens each."""
        ...

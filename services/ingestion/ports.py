"""What the ingestion handlers need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["Assignments", "Tokenizer"]


class Tokenizer(Protocol):
    """The embedding model's tokenizer, as far as chunking needs it."""

    def count(self, texts: Sequence[str]) -> list[int]:
        """Return how many tokens each text is, without special tokens."""
        ...

    def windows(self, text: str, size: int) -> list[str]:
        """Cut `text` into consecutive pieces of at most `size` tokens each."""
        ...


class Assignments(Protocol):
    """Remembered experiment assignments, so changing arms' weights moves nobody whose arm
    still serves."""

    async def remember(self, experiment: str, unit: str, proposed: str, live: Sequence[str]) -> str:
        """Return the unit's remembered arm while it is one of `live` (the serving arms);
        otherwise remember `proposed` (the hash's pick under the current weights) and
        return it."""
        ...

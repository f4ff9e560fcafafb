"""What the inference handlers need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.events import RetrievedChunk

__all__ = ["Retriever"]


class Retriever(Protocol):
    """Finds the passages nearest to a query vector within one tenant."""

    async def nearest(self, tenant: str, vector: Sequence[float], k: int) -> list[RetrievedChunk]:
        """Return up to `k` of the tenant's chunks, most similar first."""
        ...

"""What the embedding handlers need from the outside world."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.contracts.embedders import EmbedderName
from shared.contracts.events import DocumentChunked, ModelRef

__all__ = ["ChunkStore", "Encoder", "VersionApplied"]


class Encoder(Protocol):
    """Turns texts into unit-length vectors."""

    @property
    def model(self) -> ModelRef:
        """Name and version of the model."""
        ...

    @property
    def dimension(self) -> int:
        """Length of the vectors it returns (the index's column is sized by it)."""
        ...

    async def encode(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one normalised vector per text, in order."""
        ...


@dataclass(frozen=True)
class VersionApplied:
    """What applying a document version changed in the index."""

    stale: bool
    written: int
    removed: int


class ChunkStore(Protocol):
    """The knowledge index: chunks and their vectors, one live version per document."""

    async def known_chunk_ids(
        self, doc: DocumentChunked, model: EmbedderName = ...
    ) -> set[uuid.UUID]:
        """Return which of `doc`'s chunk ids the index holds with `model`'s vector (default:
        the primary model's, which every indexed chunk has)."""
        ...

    async def apply_version(
        self,
        doc: DocumentChunked,
        vectors: dict[uuid.UUID, list[float]],
        secondary: Mapping[EmbedderName, Mapping[uuid.UUID, list[float]]] | None = None,
    ) -> VersionApplied:
        """Make `doc` the live version (or delete it) atomically, unless a newer one is live;
        new chunks get their `vectors`, and kept chunks the `secondary` models' vectors
        they lack."""
        ...

"""Documents become chunks, and chunks become searchable.

Topics `documents`, `chunks` and `indexed`.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from shared.contracts.events.base import Contract, EntityId, Event, ModelRef

__all__ = ["Chunk", "DocumentChanged", "DocumentChunked", "DocumentIndexed"]


class DocumentChanged(Event):
    """A business system upserted or deleted a document (topic `documents`)."""

    key_field: ClassVar[str] = "document_id"

    document_id: EntityId
    op: Literal["upsert", "delete"] = "upsert"
    version: int = Field(default=1, ge=0, description="Monotonic per document; older never wins.")
    title: str = ""
    text: str = ""
    source: str = Field(default="", description="Where the document lives, e.g. a URL.")
    metadata: dict[str, str] = Field(default_factory=dict)


class Chunk(Contract):
    """One passage of a document, with an id derived from its content."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    chunk_id: uuid.UUID
    index: int = Field(ge=0)
    text: str = Field(min_length=1)


class DocumentChunked(Event):
    """A document version split into chunks, or its deletion (topic `chunks`)."""

    key_field: ClassVar[str] = "document_id"

    document_id: EntityId
    version: int = Field(ge=0)
    deleted: bool = False
    title: str = ""
    source: str = ""
    chunks: list[Chunk] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    source_occurred_at: AwareDatetime


class DocumentIndexed(Event):
    """What became searchable, and when (topic `indexed`)."""

    key_field: ClassVar[str] = "document_id"

    document_id: EntityId
    version: int = Field(ge=0)
    deleted: bool = False
    stale: bool = Field(default=False, description="True when a newer version was already indexed.")
    chunk_ids: list[uuid.UUID] = Field(default_factory=list)
    chunks_written: int = Field(default=0, ge=0)
    chunks_removed: int = Field(default=0, ge=0)
    source_occurred_at: AwareDatetime
    searchable_at: AwareDatetime
    embedding_model: ModelRef

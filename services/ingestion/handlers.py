"""Ingestion handlers: documents become chunk sets, requests get their experiment arm."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.ingestion.chunking import chunk_id, split_passages
from services.ingestion.config import Experiment
from services.ingestion.experiments import assign_arm
from services.ingestion.ports import Tokenizer
from shared.deadletter import Rejected
from shared.events import (
    Chunk,
    DocumentChanged,
    DocumentChunked,
    InferenceRequest,
    RequestAccepted,
    Stage,
    derived_id,
    utcnow,
)

__all__ = ["accept_request", "chunk_document"]

SERVICE = "ingestion"


def chunk_document(
    event: DocumentChanged, *, tokens: Tokenizer, chunk_size: int, overlap: int, max_bytes: int
) -> DocumentChunked:
    """Validate a document change and split an upsert into chunks with deterministic ids."""
    common = {
        "event_id": derived_id(event.event_id, "chunked"),
        "tenant": event.tenant,
        "document_id": event.document_id,
        "version": event.version,
        "title": event.title,
        "source": event.source,
        "metadata": event.metadata,
        "source_occurred_at": event.occurred_at,
    }
    if event.op == "delete":
        return DocumentChunked(deleted=True, **common)
    size = len(event.text.encode())
    if size > max_bytes:
        raise Rejected(
            f"document {event.document_id!r} is {size} bytes, over the {max_bytes}-byte limit "
            "(PILLARS_MAX_DOCUMENT_BYTES)"
        )
    passages = split_passages(event.text, tokens=tokens, size=chunk_size, overlap=overlap)
    if not passages:
        raise Rejected(f"document {event.document_id!r} has no text to index")
    chunks = [
        Chunk(chunk_id=chunk_id(event.tenant, event.document_id, i, text), index=i, text=text)
        for i, text in enumerate(passages)
    ]
    return DocumentChunked(chunks=chunks, **common)


def accept_request(
    event: InferenceRequest,
    *,
    experiment: Experiment,
    clock: Callable[[], datetime] = utcnow,
) -> RequestAccepted:
    """Stamp a request with its experiment arm; the same unit always lands in the same arm."""
    started = clock()
    unit = getattr(event, experiment.unit) or event.request_id
    arm = assign_arm(experiment, unit)
    return RequestAccepted(
        **event.model_dump(exclude={"event_id", "occurred_at", "schema_version"}),
        event_id=derived_id(event.event_id, "accepted"),
        experiment=experiment.name,
        variant=arm.name,
        top_k=arm.top_k,
        request_occurred_at=event.occurred_at,
        stages=[Stage(service=SERVICE, started_at=started, finished_at=clock())],
    )

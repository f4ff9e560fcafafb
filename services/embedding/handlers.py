"""Embedding handlers: index chunk sets into pgvector, embed request queries."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from services.embedding.ports import ChunkStore, Encoder
from shared.events import (
    DocumentChunked,
    DocumentIndexed,
    RequestAccepted,
    RequestEmbedded,
    Stage,
    derived_id,
    utcnow,
)

__all__ = ["SERVICE", "embed_requests", "index_documents"]

SERVICE = "embedding"


async def index_documents(
    docs: Sequence[DocumentChunked],
    *,
    encoder: Encoder,
    store: ChunkStore,
    clock: Callable[[], datetime] = utcnow,
) -> list[DocumentIndexed]:
    """Encode only the chunks the index lacks, in one call, then apply each version in order."""
    missing: list[tuple[uuid.UUID, str]] = []
    for doc in docs:
        if doc.deleted:
            continue
        known = await store.known_chunk_ids(doc)
        missing.extend((c.chunk_id, c.text) for c in doc.chunks if c.chunk_id not in known)
    unique = dict(missing)  # the same chunk may come twice in one batch
    vectors = dict(zip(unique, await encoder.encode(list(unique.values())), strict=True))
    indexed = []
    for doc in docs:
        applied = await store.apply_version(doc, vectors)
        indexed.append(
            DocumentIndexed(
                event_id=derived_id(doc.event_id, "indexed"),
                tenant=doc.tenant,
                document_id=doc.document_id,
                version=doc.version,
                deleted=doc.deleted,
                stale=applied.stale,
                chunk_ids=[c.chunk_id for c in doc.chunks],
                chunks_written=applied.written,
                chunks_removed=applied.removed,
                source_occurred_at=doc.source_occurred_at,
                searchable_at=clock(),
                embedding_model=encoder.model,
            )
        )
    return indexed


async def embed_requests(
    requests: Sequence[RequestAccepted],
    *,
    encoder: Encoder,
    clock: Callable[[], datetime] = utcnow,
) -> list[RequestEmbedded]:
    """Attach each query's vector, encoding the whole micro-batch in one call."""
    started = clock()
    vectors = await encoder.encode([r.query for r in requests])
    finished = clock()
    return [
        RequestEmbedded(
            **request.model_dump(exclude={"event_id", "occurred_at", "stages"}),
            event_id=derived_id(request.event_id, "embedded"),
            stages=[
                *request.stages,
                Stage(service=SERVICE, started_at=started, finished_at=finished),
            ],
            query_vector=vector,
            embedding_model=encoder.model,
        )
        for request, vector in zip(requests, vectors, strict=True)
    ]

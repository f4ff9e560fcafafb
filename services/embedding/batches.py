"""Embedding's batches: a batch of chunk sets indexed, a batch of request queries embedded,
each result published in the trace of the record that caused it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from services.embedding.handlers import NO_ENCODERS, embed_requests, index_documents
from services.embedding.metrics import observe_document_batch, observe_query_batch
from services.embedding.ports import ChunkStore, Encoder
from shared.contracts.embedders import EmbedderName
from shared.contracts.events import DocumentChunked, Event, RequestAccepted, RequestEmbedded, utcnow
from shared.kit.batches import Received
from shared.kit.openinference import Kind, ModelWork, embedding_attributes

__all__ = ["PublishInTrace", "embed_batch", "index_batch"]

# `publish(event, cause, what, work)`: publish `event` in the trace of the record `cause`
# came in, under a span named after `what`, with `work` as a model span of that trace
# (the kit's `publish_in_trace` with its publisher bound).
PublishInTrace = Callable[[Event, Received[Any], str, ModelWork], Awaitable[None]]


async def index_batch(
    received: Sequence[Received[DocumentChunked]],
    *,
    encoder: Encoder,
    store: ChunkStore,
    publish: PublishInTrace,
    secondary: Mapping[EmbedderName, Encoder] = NO_ENCODERS,
) -> None:
    """Index a batch of chunk sets with one encode call per model, then publish each one's
    `DocumentIndexed` in its own trace."""
    docs = [r.event for r in received]
    started = utcnow()
    results = await index_documents(docs, encoder=encoder, store=store, secondary=secondary)
    finished = utcnow()
    chunks = sum(len(d.chunks) for d in docs)
    observe_document_batch(chunks)
    for cause, doc, event in zip(received, docs, results, strict=True):
        texts = [c.text for c in doc.chunks[:3]]  # a glimpse; the chunks are in the index
        attributes = embedding_attributes(encoder.model, texts, chunks) | {
            "pillars.chunks": len(doc.chunks),
            "pillars.chunks_written": event.chunks_written,
        }
        work = ModelWork(Kind.EMBEDDING, "embed chunks", attributes, started, finished)
        await publish(event, cause, "index document", work)


async def embed_batch(
    received: Sequence[Received[RequestAccepted]],
    *,
    encoder: Encoder,
    publish: PublishInTrace,
    secondary: Mapping[EmbedderName, Encoder] = NO_ENCODERS,
    embedders: Mapping[str, EmbedderName] | None = None,
) -> None:
    """Embed a batch of requests' queries, publishing each `RequestEmbedded` as soon as its
    vector is ready; a failed publish fails the batch once every publish has finished."""
    if not received:
        return
    requests = [r.event for r in received]
    observe_query_batch(len(requests))
    # Each is published as soon as it is encoded, without waiting for the broker's
    # acknowledgement of the one before; the offsets commit once all are acknowledged.
    published: list[asyncio.Task[None]] = []
    try:
        queries = embed_requests(
            requests, encoder=encoder, secondary=secondary, embedders=embedders
        )
        async for event in queries:
            cause = received[len(published)]
            publishing = _publish_embedded(event, cause, len(requests), publish)
            published.append(asyncio.create_task(publishing))
    finally:
        outcomes = await asyncio.gather(*published, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def _publish_embedded(
    event: RequestEmbedded, cause: Received[RequestAccepted], batch: int, publish: PublishInTrace
) -> None:
    """Publish one embedded request, its encoding (this service's stage) as its model span."""
    stage = event.stages[-1]
    attributes = embedding_attributes(event.embedding_model, [event.query], batch)
    work = ModelWork(Kind.EMBEDDING, "embed query", attributes, stage.started_at, stage.finished_at)
    await publish(event, cause, "embed query", work)

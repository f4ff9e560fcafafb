"""Embedding's FastStream wiring: chunk batches -> pgvector + indexed; requests -> vectors."""

from __future__ import annotations

import asyncio

import asyncpg
from faststream import FastStream

from services.embedding.adapters.pgvector_store import PgChunkStore
from services.embedding.config import EmbeddingSettings
from services.embedding.handlers import SERVICE, embed_requests, index_documents
from services.embedding.ports import ChunkStore, Encoder
from shared.contracts.events import DocumentChunked, RequestAccepted, RequestEmbedded, utcnow
from shared.contracts.topics import Topic
from shared.encoders.loading import load_encoder
from shared.kit.batches import Received
from shared.kit.metrics import EMBED_BATCH_SIZE
from shared.kit.openinference import Kind, ModelWork, embedding_attributes
from shared.kit.service import ServiceKit

__all__ = ["create_app"]


def create_app(settings: EmbeddingSettings | None = None) -> FastStream:
    """Build the embedding app; the model loads and the pool opens in its lifespan."""
    settings = settings or EmbeddingSettings()
    kit = ServiceKit(SERVICE, settings)
    indexed = kit.publisher(Topic.INDEXED)

    async def adapters(pool: asyncpg.Pool) -> dict[str, object]:
        encoder = await asyncio.to_thread(load_encoder, settings)
        # Queries have an encoder of their own, on one thread: a short query encodes no
        # faster on two (ONNX int8: 2.8 ms either way, 4.4 ms of CPU against 2.8), and it
        # never waits behind a batch of document chunks. torch's threads are per process.
        query_encoder = (
            encoder
            if settings.embedding_backend == "torch"
            else await asyncio.to_thread(load_encoder, settings, threads=1)
        )
        store = PgChunkStore(pool)
        await store.create_schema(
            encoder.dimension,
            settings.hnsw_m,
            settings.hnsw_ef_construction,
            settings.hnsw_build_memory,
        )
        return {"encoder": encoder, "query_encoder": query_encoder, "store": store}

    @kit.batch_subscriber(
        Topic.CHUNKS,
        max_records=settings.chunk_batch_max_records,
        wait_ms=settings.chunk_batch_wait_ms,
    )
    async def on_chunks(_: list[bytes]) -> None:
        encoder: Encoder = kit.built("encoder")
        store: ChunkStore = kit.built("store")
        received = await kit.valid_batch(kit.current_message(), Topic.CHUNKS, DocumentChunked)
        docs = [r.event for r in received]
        started = utcnow()
        results = await index_documents(docs, encoder=encoder, store=store)
        finished = utcnow()
        chunks = sum(len(d.chunks) for d in docs)
        EMBED_BATCH_SIZE.labels("documents").observe(chunks)
        for cause, doc, event in zip(received, docs, results, strict=True):
            texts = [c.text for c in doc.chunks[:3]]  # a glimpse; the chunks are in the index
            attributes = embedding_attributes(encoder.model, texts, chunks) | {
                "pillars.chunks": len(doc.chunks),
                "pillars.chunks_written": event.chunks_written,
            }
            work = ModelWork(Kind.EMBEDDING, "embed chunks", attributes, started, finished)
            await kit.publish_in_trace(indexed, event, cause, "index document", work)

    embedded = kit.publisher(Topic.REQUESTS_EMBEDDED)

    @kit.batch_subscriber(
        Topic.REQUESTS_ACCEPTED,
        max_records=settings.request_batch_max_records,
        wait_ms=settings.request_batch_wait_ms,
    )
    async def on_requests(_: list[bytes]) -> None:
        encoder: Encoder = kit.built("query_encoder")
        message = kit.current_message()
        received = await kit.valid_batch(message, Topic.REQUESTS_ACCEPTED, RequestAccepted)
        if not received:
            return
        requests = [r.event for r in received]
        EMBED_BATCH_SIZE.labels("queries").observe(len(requests))

        async def publish(cause: Received[RequestAccepted], event: RequestEmbedded) -> None:
            stage = event.stages[-1]
            attributes = embedding_attributes(event.embedding_model, [event.query], len(requests))
            work = ModelWork(
                Kind.EMBEDDING, "embed query", attributes, stage.started_at, stage.finished_at
            )
            await kit.publish_in_trace(embedded, event, cause, "embed query", work)

        # Each is published as soon as it is encoded, without waiting for the broker's
        # acknowledgement of the one before; the offsets commit once all are acknowledged.
        published: list[asyncio.Task[None]] = []
        try:
            async for event in embed_requests(requests, encoder=encoder):
                cause = received[len(published)]
                published.append(asyncio.create_task(publish(cause, event)))
        finally:
            outcomes = await asyncio.gather(*published, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    return kit.app(lifespan=kit.database_lifespan(adapters))

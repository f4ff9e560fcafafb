"""Embedding's FastStream wiring: chunk batches -> pgvector + indexed; requests -> vectors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from faststream import Context, ContextRepo, FastStream
from faststream.kafka.annotations import KafkaMessage

from services.embedding.adapters.pgvector_store import PgChunkStore
from services.embedding.adapters.sentence_encoder import SentenceEncoder, packaged_model_path
from services.embedding.config import EmbeddingSettings
from services.embedding.handlers import SERVICE, embed_requests, index_documents
from services.embedding.ports import ChunkStore, Encoder
from shared.batches import raw_bodies, valid_events
from shared.cloudevents import publish_event
from shared.db import create_pool
from shared.events import DocumentChunked, RequestAccepted
from shared.service import ServiceKit
from shared.topics import Topic

__all__ = ["create_app"]


def create_app(settings: EmbeddingSettings | None = None) -> FastStream:
    """Build the embedding app; the model loads and the pool opens in its lifespan."""
    settings = settings or EmbeddingSettings()
    kit = ServiceKit(SERVICE, settings)
    indexed = kit.publisher(Topic.INDEXED)

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        path = Path(settings.embedding_model_path or packaged_model_path())
        encoder = SentenceEncoder(
            path, batch_size=settings.embedding_batch_size, threads=settings.embedding_threads
        )
        pool = await create_pool(settings.dsn)
        store = PgChunkStore(pool)
        await store.create_schema(encoder.dimension, settings.hnsw_m, settings.hnsw_ef_construction)
        context.set_global("encoder", encoder)
        context.set_global("store", store)
        try:
            yield
        finally:
            await pool.close()

    @kit.subscriber(
        Topic.CHUNKS,
        batch=True,
        max_records=settings.chunk_batch_max_records,
        batch_timeout_ms=settings.chunk_batch_wait_ms,
        decoder=raw_bodies,
        description="Batches of DocumentChunked (schemas/events/pillars.chunks.v1.json); "
        "each record is validated on its own so one bad record cannot fail its neighbours.",
    )
    async def on_chunks(
        _: list[bytes],
        message: KafkaMessage,
        encoder: Annotated[Encoder, Context()],
        store: Annotated[ChunkStore, Context()],
    ) -> None:
        group = kit.consumer_group(Topic.CHUNKS)
        docs = await valid_events(message, DocumentChunked, broker=kit.broker, consumer=group)
        for event in await index_documents(docs, encoder=encoder, store=store):
            await publish_event(indexed, event, kit.source)

    embedded = kit.publisher(Topic.REQUESTS_EMBEDDED)

    # getmany returns whatever is buffered at once, so batching adds no wait when busy.
    @kit.subscriber(
        Topic.REQUESTS_ACCEPTED,
        batch=True,
        max_records=settings.request_batch_max_records,
        batch_timeout_ms=settings.request_batch_wait_ms,
        decoder=raw_bodies,
        description="Batches of RequestAccepted (schemas/events/pillars.requests.accepted.v1.json)"
        "; each record is validated on its own.",
    )
    async def on_requests(
        _: list[bytes], message: KafkaMessage, encoder: Annotated[Encoder, Context()]
    ) -> None:
        group = kit.consumer_group(Topic.REQUESTS_ACCEPTED)
        requests = await valid_events(message, RequestAccepted, broker=kit.broker, consumer=group)
        for event in await embed_requests(requests, encoder=encoder) if requests else []:
            await publish_event(embedded, event, kit.source)

    return kit.app(lifespan=lifespan)

"""Embedding's FastStream wiring: chunk batches -> pgvector + indexed; requests -> vectors."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.embedding.batches import embed_batch, index_batch
from services.embedding.bootstrap import EmbeddingDependencies, bootstrap
from services.embedding.config import EmbeddingSettings
from services.embedding.handlers import SERVICE
from shared.contracts.events import DocumentChunked, RequestAccepted
from shared.contracts.topics import Topic
from shared.kit.service import ServiceKit

__all__ = ["create_app"]

Assembler = Callable[[], AbstractAsyncContextManager[EmbeddingDependencies]]


def create_app(
    settings: EmbeddingSettings | None = None, *, assemble: Assembler | None = None
) -> FastStream:
    """Build the embedding app; the models load and the pool opens while it runs
    (`assemble` replaces the bootstrap, e.g. with fakes)."""
    settings = settings or EmbeddingSettings()
    kit = ServiceKit(SERVICE, settings)
    deps = kit.assemble(assemble or partial(bootstrap, settings))
    publish_indexed = partial(kit.publish_in_trace, kit.publisher(Topic.INDEXED))

    @kit.batch_subscriber(
        Topic.CHUNKS,
        max_records=settings.chunk_batch_max_records,
        wait_ms=settings.chunk_batch_wait_ms,
    )
    async def on_chunks(_: list[bytes]) -> None:
        await index_batch(
            await kit.valid_batch(Topic.CHUNKS, DocumentChunked),
            encoder=deps().encoder,
            store=deps().store,
            publish=publish_indexed,
        )

    publish_embedded = partial(kit.publish_in_trace, kit.publisher(Topic.REQUESTS_EMBEDDED))

    @kit.batch_subscriber(
        Topic.REQUESTS_ACCEPTED,
        max_records=settings.request_batch_max_records,
        wait_ms=settings.request_batch_wait_ms,
    )
    async def on_requests(_: list[bytes]) -> None:
        await embed_batch(
            await kit.valid_batch(Topic.REQUESTS_ACCEPTED, RequestAccepted),
            encoder=deps().query_encoder,
            publish=publish_embedded,
        )

    return kit.app()

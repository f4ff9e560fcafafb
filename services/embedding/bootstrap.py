"""Embedding assembled: the encoders and the knowledge index, real or given by a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from services.embedding.adapters.pgvector_store import PgChunkStore
from services.embedding.config import EmbeddingSettings
from services.embedding.ports import ChunkStore, Encoder
from shared.encoders import load_encoder
from shared.kit.db import open_pool

__all__ = ["EmbeddingDependencies", "bootstrap"]


@dataclass(frozen=True)
class EmbeddingDependencies:
    """Everything embedding's batches need, built once per process."""

    settings: EmbeddingSettings
    encoder: Encoder
    query_encoder: Encoder
    store: ChunkStore


async def _query_encoder(settings: EmbeddingSettings, encoder: Encoder) -> Encoder:
    """Return the encoder of request queries: its own one-thread model, except on torch."""
    # Queries have an encoder of their own, on one thread: a short query encodes no
    # faster on two (ONNX int8: 2.8 ms either way, 4.4 ms of CPU against 2.8), and it
    # never waits behind a batch of document chunks. torch's threads are per process.
    if settings.embedding_backend == "torch":
        return encoder
    return await asyncio.to_thread(load_encoder, settings, threads=1)


@asynccontextmanager
async def bootstrap(
    settings: EmbeddingSettings,
    *,
    encoder: Encoder | None = None,
    query_encoder: Encoder | None = None,
    store: ChunkStore | None = None,
) -> AsyncIterator[EmbeddingDependencies]:
    """Build embedding's dependencies from `settings`; a test overrides any of them (then no
    model loads for it, and no Postgres opens when it gives the store).

    Queries share a given `encoder` unless a `query_encoder` is given too.
    """
    async with AsyncExitStack() as stack:
        index = None
        if store is None:  # opened before the model loads, so a missing database fails fast
            store = index = PgChunkStore(
                await stack.enter_async_context(
                    open_pool(settings.dsn, service=settings.database_service("embedding"))
                ),
                text_configs=settings.text_search_configs,
                default_text_config=settings.text_search_default,
            )
        if encoder is None:
            encoder = await asyncio.to_thread(load_encoder, settings)
            if query_encoder is None:
                query_encoder = await _query_encoder(settings, encoder)
        if index is not None:  # the vector column is as wide as the model's vectors
            await index.create_schema(
                encoder.dimension,
                settings.hnsw_m,
                settings.hnsw_ef_construction,
                settings.hnsw_build_memory,
            )
        queries = encoder if query_encoder is None else query_encoder
        yield EmbeddingDependencies(settings, encoder, queries, store)

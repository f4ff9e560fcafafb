"""Embedding assembled: the encoders, the knowledge index and the experiment in force, real
or given by a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from services.embedding.adapters.pg_secondary import PgBackfill
from services.embedding.adapters.pgvector_store import PgChunkStore
from services.embedding.background_fill import FillStore, Quiet
from services.embedding.config import EmbeddingSettings
from services.embedding.handlers import models_of
from services.embedding.ports import ChunkStore, Encoder
from services.embedding.solution_models import solution_models
from shared.contracts.embedders import PRIMARY, EmbedderName
from shared.encoders import load_encoder, load_named_encoder
from shared.experiment_store import ExperimentStore, LiveExperiment, PgExperimentStore
from shared.kit.db import PostgresAdapters

__all__ = ["EmbeddingDependencies", "bootstrap"]


@dataclass(frozen=True)
class EmbeddingDependencies:
    """Everything embedding's batches need, built once per process.

    `embedders` maps each solution to the model it retrieves with; `secondary` holds the
    passage encoders of the secondary models chunks are embedded by as they are indexed,
    `secondary_queries` the query encoders of every secondary model a solution names.
    `fill` is where the background fill finds and sets the vectors chunks lack (None: no
    background fill); `quiet` says how long indexing has been idle.
    """

    settings: EmbeddingSettings
    encoder: Encoder
    query_encoder: Encoder
    store: ChunkStore
    experiments: ExperimentStore
    experiment: LiveExperiment
    embedders: Mapping[str, EmbedderName] = field(default_factory=dict)
    secondary: Mapping[EmbedderName, Encoder] = field(default_factory=dict)
    secondary_queries: Mapping[EmbedderName, Encoder] = field(default_factory=dict)
    fill: FillStore | None = None
    quiet: Quiet = field(default_factory=Quiet)
    _loaded: dict[EmbedderName, Encoder] = field(default_factory=dict)

    def retrieval_models(self) -> set[EmbedderName]:
        """Return the secondary models the experiment in force's arms retrieve with."""
        return models_of([arm.solution for arm in self.experiment.current.arms], self.embedders)

    def chunk_encoders(self) -> dict[EmbedderName, Encoder]:
        """Return the secondary encoders the experiment in force's arms need for chunks."""
        needed = self.retrieval_models()
        return {model: e for model, e in self.secondary.items() if model in needed}

    async def passage_encoder(self, model: EmbedderName) -> Encoder:
        """Return `model`'s passage encoder: the inline one, else loaded once, when first
        asked for (a deferred model loads only when the background fill needs it)."""
        if model in self.secondary:
            return self.secondary[model]
        if model not in self._loaded:
            self._loaded[model] = await asyncio.to_thread(
                load_named_encoder, model, self.settings, queries=False
            )
        return self._loaded[model]


async def _query_encoder(settings: EmbeddingSettings, encoder: Encoder) -> Encoder:
    """Return the encoder of request queries: its own one-thread model, except on torch."""
    # Queries have an encoder of their own, on one thread: a short query encodes no
    # faster on two (ONNX int8: 2.8 ms either way, 4.4 ms of CPU against 2.8), and it
    # never waits behind a batch of document chunks. torch's threads are per process.
    if settings.embedding_backend == "torch":
        return encoder
    return await asyncio.to_thread(load_encoder, settings, threads=1)


async def _secondary(
    settings: EmbeddingSettings, models: set[EmbedderName], *, queries: bool
) -> dict[EmbedderName, Encoder]:
    """Load the secondary models' passage or query encoders (queries on one thread)."""
    threads = 1 if queries else None
    return {
        model: await asyncio.to_thread(
            load_named_encoder, model, settings, queries=queries, threads=threads
        )
        for model in sorted(models)
    }


@asynccontextmanager
async def bootstrap(
    settings: EmbeddingSettings,
    *,
    encoder: Encoder | None = None,
    query_encoder: Encoder | None = None,
    store: ChunkStore | None = None,
    experiments: ExperimentStore | None = None,
    secondary: Mapping[EmbedderName, Encoder] | None = None,
    secondary_queries: Mapping[EmbedderName, Encoder] | None = None,
    fill: FillStore | None = None,
) -> AsyncIterator[EmbeddingDependencies]:
    """Build embedding's dependencies from `settings`; a test overrides any of them (then no
    model loads for it, and no Postgres opens when it gives the store and experiments).

    Queries share a given `encoder` unless a `query_encoder` is given too.
    """
    embedders = solution_models(settings.solutions_dir)
    named = set(embedders.values()) - {PRIMARY}
    async with AsyncExitStack() as stack:
        postgres = PostgresAdapters(
            stack, lambda: settings.dsn, service=settings.database_service("embedding")
        )
        index = None
        if store is None:  # opened before the model loads, so a missing database fails fast
            pool = await postgres.pool()
            store = index = PgChunkStore(
                pool,
                text_configs=settings.text_search_configs,
                default_text_config=settings.text_search_default,
            )
            fill = fill or PgBackfill(pool)
        experiments = await postgres.built(experiments, PgExperimentStore)
        live = LiveExperiment.of(await experiments.seed(settings.experiment))
        if encoder is None:
            encoder = await asyncio.to_thread(load_encoder, settings)
            if query_encoder is None:
                query_encoder = await _query_encoder(settings, encoder)
        if secondary is None:
            inline = named - set(settings.embedders_deferred)
            secondary = await _secondary(settings, inline, queries=False)
        if secondary_queries is None:
            secondary_queries = await _secondary(settings, named, queries=True)
        if index is not None:  # the vector column is as wide as the model's vectors
            await index.create_schema(
                encoder.dimension,
                settings.hnsw_m,
                settings.hnsw_ef_construction,
                settings.hnsw_build_memory,
            )
        queries = encoder if query_encoder is None else query_encoder
        yield EmbeddingDependencies(
            settings,
            encoder,
            queries,
            store,
            experiments,
            live,
            embedders,
            secondary,
            secondary_queries,
            fill,
        )

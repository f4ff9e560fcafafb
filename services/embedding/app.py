"""Embedding's FastStream wiring: chunk batches -> pgvector + indexed; requests -> vectors;
experiment versions followed (their arms say which embedding models chunks need); the
vectors chunks lack of those models filled in the background while indexing is quiet."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.embedding.background_fill import fill_round
from services.embedding.batches import embed_batch, index_batch
from services.embedding.bootstrap import EmbeddingDependencies, bootstrap
from services.embedding.config import EmbeddingSettings
from services.embedding.handlers import SERVICE
from services.embedding.metrics import observe_backfilled
from shared.contracts.events import DocumentChunked, ExperimentChanged, RequestAccepted
from shared.contracts.topics import Topic
from shared.experiment_store import CATCH_UP_S, newer_stored
from shared.kit.assembly import Assembled
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
        deps().quiet.busy()
        await index_batch(
            await kit.valid_batch(Topic.CHUNKS, DocumentChunked),
            encoder=deps().encoder,
            store=deps().store,
            secondary=deps().chunk_encoders(),
            publish=publish_indexed,
        )

    _embed_requests(kit, deps)
    _follow_experiment(kit, deps)
    if settings.embedders_fill_every_s > 0:
        _fill_in_background(kit, deps)
    return kit.app()


def _fill_in_background(
    kit: ServiceKit[EmbeddingSettings], deps: Assembled[EmbeddingDependencies]
) -> None:
    """Give chunks, while indexing is quiet, the vectors they lack of the models the
    experiment's arms retrieve with (services.embedding.background_fill)."""
    settings = kit.settings

    async def fill() -> None:
        store = deps().fill
        if store is None or not deps().quiet.for_at_least(settings.embedders_fill_idle_s):
            return
        done = await fill_round(
            deps().retrieval_models(),
            encoder_of=deps().passage_encoder,
            store=store,
            limit=settings.embedders_fill_chunks,
        )
        for model, filled in done.items():
            observe_backfilled(model, filled.total)

    kit.every(settings.embedders_fill_every_s, "embedder-fill", fill)


def _embed_requests(
    kit: ServiceKit[EmbeddingSettings], deps: Assembled[EmbeddingDependencies]
) -> None:
    """Subscribe the request batches: each query embedded by every model its arms need."""
    settings = kit.settings
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
            secondary=deps().secondary_queries,
            embedders=deps().embedders,
            publish=publish_embedded,
        )


def _follow_experiment(
    kit: ServiceKit[EmbeddingSettings], deps: Assembled[EmbeddingDependencies]
) -> None:
    """Put each announced experiment version in force, and catch up with a missed one."""

    @kit.handles(Topic.EXPERIMENTS)  # every replica reads every version (a broadcast)
    async def on_experiment(event: ExperimentChanged) -> None:
        deps().experiment.apply(event)

    async def catch_up_round() -> None:
        change = await newer_stored(deps().experiments, deps().experiment)
        if change is not None:
            deps().experiment.apply(change)

    kit.every(CATCH_UP_S, "experiment-catch-up", catch_up_round)

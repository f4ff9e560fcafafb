"""Ingestion's FastStream wiring: documents -> chunks, requests -> requests.accepted, and
experiment versions put in force as they are announced."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.ingestion.bootstrap import IngestionDependencies, bootstrap
from services.ingestion.config import IngestionSettings
from services.ingestion.handlers import (
    SERVICE,
    admit_request,
    catch_up,
    chunk_document,
)
from services.ingestion.metrics import observe_refusal
from shared.contracts.events import (
    DocumentChanged,
    DocumentChunked,
    ExperimentChanged,
    InferenceRequest,
    Prediction,
    RequestAccepted,
)
from shared.contracts.topics import Topic
from shared.experiment_store import CATCH_UP_S
from shared.kit.assembly import Assembled
from shared.kit.service import ServiceKit

__all__ = ["create_app"]

Assembler = Callable[[], AbstractAsyncContextManager[IngestionDependencies]]


def create_app(
    settings: IngestionSettings | None = None, *, assemble: Assembler | None = None
) -> FastStream:
    """Build the ingestion app; nothing connects until it runs (`assemble` replaces the
    bootstrap, e.g. with fakes)."""
    settings = settings or IngestionSettings()
    kit = ServiceKit(SERVICE, settings)
    deps = kit.assemble(assemble or partial(bootstrap, settings))

    @kit.handles(Topic.DOCUMENTS, publishes=Topic.CHUNKS)
    async def on_document(event: DocumentChanged) -> DocumentChunked:
        return chunk_document(
            event,
            tokens=deps().tokens,
            chunk_size=settings.chunk_size_tokens,
            overlap=settings.chunk_overlap_tokens,
            max_bytes=settings.max_document_bytes,
        )

    _admit_requests(kit, deps)

    @kit.handles(Topic.EXPERIMENTS)  # every replica reads every version (a broadcast)
    async def on_experiment(event: ExperimentChanged) -> None:
        deps().experiment.apply(event)

    async def catch_up_round() -> None:
        await catch_up(store=deps().experiments, live=deps().experiment)

    kit.every(CATCH_UP_S, "experiment-catch-up", catch_up_round)
    return kit.app()


def _admit_requests(
    kit: ServiceKit[IngestionSettings], deps: Assembled[IngestionDependencies]
) -> None:
    """Subscribe the request handler: accepted requests go on, refused ones are answered."""
    refusals = kit.publisher(Topic.PREDICTIONS)

    async def refuse(prediction: Prediction) -> None:
        await kit.publish(refusals, prediction)
        observe_refusal(prediction.tenant)

    @kit.handles(Topic.REQUESTS, publishes=Topic.REQUESTS_ACCEPTED)
    async def on_request(event: InferenceRequest) -> RequestAccepted | None:
        """Accept a request, or answer it at once as refused when its tenant is over its rate."""
        return await admit_request(
            event,
            limiter=deps().limiter,
            experiment=deps().experiment.current,
            assignments=deps().assignments,
            refuse=refuse,
        )

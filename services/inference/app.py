"""Inference's FastStream wiring: requests.embedded -> predictions (+ predictions.shadow)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.inference.answering import answer_with_shadows
from services.inference.bootstrap import InferenceDependencies, bootstrap
from services.inference.config import InferenceSettings
from services.inference.handlers import SERVICE
from services.inference.solutions import arms_solutions, load_solutions
from shared.contracts.events import RequestEmbedded
from shared.contracts.topics import Topic
from shared.kit.openinference import annotate_current_span
from shared.kit.service import ServiceKit

__all__ = ["create_app"]

Assembler = Callable[[], AbstractAsyncContextManager[InferenceDependencies]]


def create_app(
    settings: InferenceSettings | None = None, *, assemble: Assembler | None = None
) -> FastStream:
    """Build the inference app; solutions and the experiment's arms are checked here, so a
    bad solution file or an arm naming a missing solution stops the start with the reason
    (`assemble` replaces the bootstrap, e.g. with fakes)."""
    settings = settings or InferenceSettings()
    solutions = load_solutions(settings.solutions_dir)
    in_use = arms_solutions(settings.experiment, solutions)
    kit = ServiceKit(SERVICE, settings)
    real = partial(bootstrap, settings, solutions=solutions, in_use=in_use, tracer=kit.tracer)
    deps = kit.assemble(assemble or real)
    predictions = kit.publisher(Topic.PREDICTIONS)
    shadows = kit.publisher(Topic.PREDICTIONS_SHADOW)

    @kit.subscriber(Topic.REQUESTS_EMBEDDED)
    async def on_request(event: RequestEmbedded) -> None:
        annotate_current_span(event)
        await answer_with_shadows(
            event,
            deps(),
            publish=partial(kit.publish, predictions),
            publish_shadow=partial(kit.publish, shadows),
        )

    return kit.app()

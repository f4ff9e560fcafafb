"""Inference's FastStream wiring: requests.embedded -> predictions (+ predictions.shadow),
and experiment versions put in force as they are announced."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.inference.answering import answer_with_shadows
from services.inference.bootstrap import InferenceDependencies, bootstrap
from services.inference.config import InferenceSettings
from services.inference.experiment_changes import catch_up, switch_experiment
from services.inference.handlers import SERVICE
from services.inference.model_changes import take_up_model
from services.inference.solutions import arms_solutions, load_solutions
from shared.contracts.events import ExperimentChanged, ModelRegistered, RequestEmbedded
from shared.contracts.topics import Topic
from shared.experiment_store import CATCH_UP_S
from shared.kit.service import ServiceKit

__all__ = ["create_app"]

Assembler = Callable[[], AbstractAsyncContextManager[InferenceDependencies]]


def create_app(
    settings: InferenceSettings | None = None, *, assemble: Assembler | None = None
) -> FastStream:
    """Build the inference app; a bad solution file, or a seed (or, at start, stored)
    experiment arm naming a missing solution, stops the start with the reason."""
    settings = settings or InferenceSettings()
    solutions = load_solutions(settings.solutions_dir)
    arms_solutions(settings.experiment, solutions)
    kit = ServiceKit(SERVICE, settings)
    deps = kit.assemble(
        assemble or partial(bootstrap, settings, solutions=solutions, tracer=kit.tracer)
    )
    publish = partial(kit.publish, kit.publisher(Topic.PREDICTIONS))
    publish_shadow = partial(kit.publish, kit.publisher(Topic.PREDICTIONS_SHADOW))

    @kit.handles(Topic.REQUESTS_EMBEDDED)
    async def on_request(event: RequestEmbedded) -> None:
        await answer_with_shadows(event, deps(), publish=publish, publish_shadow=publish_shadow)

    @kit.handles(Topic.EXPERIMENTS)  # every replica reads every version (a broadcast)
    async def on_experiment(event: ExperimentChanged) -> None:
        switch_experiment(
            event, live=deps().experiment, solutions=deps().solutions, models=deps().models
        )

    @kit.handles(Topic.MODELS)  # every replica takes each new version up (a broadcast)
    async def on_model(event: ModelRegistered) -> None:
        await take_up_model(event, models=deps().models)

    async def catch_up_round() -> None:
        await catch_up(store=deps().experiments, live=deps().experiment, solutions=deps().solutions)

    kit.every(CATCH_UP_S, "experiment-catch-up", catch_up_round)
    return kit.app()

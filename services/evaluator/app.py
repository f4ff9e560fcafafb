"""Evaluator's FastStream wiring: predictions and outcomes in, evaluations out; and the loop.

Each prediction is scored as it arrives (a shadow arm's too); outcomes (feedback joined to
predictions) are counted once per feedback id; every `PILLARS_EVALUATOR_REPORT_INTERVAL_S`
one replica (the holder of a Postgres advisory lock) reports every arm's metrics and the
A/B decisions, and every `PILLARS_LOOP_INTERVAL_S` the same replica advances the loop of
each managed model (registered models arrive on `models`; its steps go to `experiments`,
`training` and `loop`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.evaluator.bootstrap import EvaluatorDependencies, bootstrap
from services.evaluator.config import EvaluatorSettings
from services.evaluator.handlers import SERVICE, record_outcome, record_query, record_shadow
from services.evaluator.loop.rounds import keep_registration, loop_if_leading
from services.evaluator.metrics import observe_evaluation
from services.evaluator.reporting import REPORT_TENANT, report_if_leading
from services.evaluator.scoring import score_prediction
from shared.contracts.events import (
    Evaluation,
    Event,
    ModelRegistered,
    Outcome,
    Prediction,
    RequestEmbedded,
)
from shared.contracts.topics import PRODUCED_BY, Topic
from shared.kit.assembly import Assembled
from shared.kit.service import ServiceKit

__all__ = ["REPORT_TENANT", "create_app"]

Assembler = Callable[[], AbstractAsyncContextManager[EvaluatorDependencies]]
Dependencies = Assembled[EvaluatorDependencies]
# What the rounds publish: reports (evaluations), and the loop's steps, the experiment
# versions and trainings it asks for, and the verdicts it acts on.
ROUND_TOPICS = PRODUCED_BY[SERVICE]  # the rounds publish whatever the evaluator produces


def create_app(
    settings: EvaluatorSettings | None = None, *, assemble: Assembler | None = None
) -> FastStream:
    """Build the evaluator app; nothing connects until it runs (`assemble` replaces the
    bootstrap, e.g. with fakes)."""
    settings = settings or EvaluatorSettings()
    kit = ServiceKit(SERVICE, settings)
    deps = kit.assemble(assemble or partial(bootstrap, settings))
    _subscribe(kit, deps)
    _schedule(kit, deps, settings)
    return kit.app()


def _subscribe(kit: ServiceKit[EvaluatorSettings], deps: Dependencies) -> None:
    """Subscribe the handlers of single events: each is one call into the domain."""

    @kit.handles(Topic.PREDICTIONS, publishes=Topic.EVALUATIONS, observe=observe_evaluation)
    async def on_prediction(event: Prediction) -> Evaluation | None:
        return await score_prediction(
            event,
            book=deps().book,
            judge=deps().judge,
            tracer=kit.tracer,
            traceparent=kit.current_message().headers.get("traceparent"),
        )

    @kit.handles(Topic.PREDICTIONS_SHADOW)
    async def on_shadow_prediction(event: Prediction) -> None:
        await record_shadow(event, book=deps().book)

    @kit.handles(Topic.REQUESTS_EMBEDDED)
    async def on_query(event: RequestEmbedded) -> None:
        """Keep the query's embedding: drift compares this window's queries to the last."""
        await record_query(event, book=deps().book)

    @kit.handles(Topic.OUTCOMES)
    async def on_outcome(event: Outcome) -> None:
        await record_outcome(event, book=deps().book)

    @kit.handles(Topic.MODELS)
    async def on_model_registered(event: ModelRegistered) -> None:
        """Keep a registered candidate for the loop's next round, which gates it."""
        await keep_registration(event, loop=deps().loop)


def _schedule(
    kit: ServiceKit[EvaluatorSettings], deps: Dependencies, settings: EvaluatorSettings
) -> None:
    """Run the leader's rounds: the reports, and the loop."""
    publishers = {topic: kit.publisher(topic) for topic in ROUND_TOPICS}

    async def publish(topic: Topic, event: Event) -> None:
        await kit.publish(publishers[topic], event)

    async def report_round() -> None:
        await report_if_leading(
            leadership=deps().leadership,
            book=deps().book,
            test=deps().test,
            window_s=settings.evaluator_window_s,
            publish=partial(publish, Topic.EVALUATIONS),
        )

    async def loop_round() -> None:
        await loop_if_leading(leadership=deps().leadership, loop=deps().loop, publish=publish)

    kit.every(settings.evaluator_report_interval_s, "reports", report_round)
    kit.every(settings.loop_interval_s, "loop", loop_round)

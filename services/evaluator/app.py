"""Evaluator's FastStream wiring: predictions and outcomes in, evaluations out.

Each prediction is scored as it arrives; outcomes (feedback joined to predictions) are
counted once per feedback id; every `PILLARS_EVALUATOR_REPORT_INTERVAL_S` one replica
(the holder of a Postgres advisory lock) reports every arm's metrics and the A/B decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.evaluator.bootstrap import EvaluatorDependencies, bootstrap
from services.evaluator.config import EvaluatorSettings
from services.evaluator.handlers import SERVICE, record_outcome, record_query
from services.evaluator.metrics import observe_evaluation
from services.evaluator.reporting import REPORT_TENANT, report_if_leading
from services.evaluator.scoring import score_prediction
from shared.contracts.events import Evaluation, Outcome, Prediction, RequestEmbedded
from shared.contracts.topics import Topic
from shared.kit.service import ServiceKit

__all__ = ["REPORT_TENANT", "create_app"]

Assembler = Callable[[], AbstractAsyncContextManager[EvaluatorDependencies]]


def create_app(
    settings: EvaluatorSettings | None = None, *, assemble: Assembler | None = None
) -> FastStream:
    """Build the evaluator app; nothing connects until it runs (`assemble` replaces the
    bootstrap, e.g. with fakes)."""
    settings = settings or EvaluatorSettings()
    kit = ServiceKit(SERVICE, settings)
    deps = kit.assemble(assemble or partial(bootstrap, settings))

    @kit.handles(Topic.PREDICTIONS, publishes=Topic.EVALUATIONS, observe=observe_evaluation)
    async def on_prediction(event: Prediction) -> Evaluation:
        return await score_prediction(
            event,
            book=deps().book,
            judge=deps().judge,
            tracer=kit.tracer,
            traceparent=kit.current_message().headers.get("traceparent"),
        )

    @kit.handles(Topic.REQUESTS_EMBEDDED)
    async def on_query(event: RequestEmbedded) -> None:
        """Keep the query's embedding: drift compares this window's queries to the last."""
        await record_query(event, book=deps().book)

    @kit.handles(Topic.OUTCOMES)
    async def on_outcome(event: Outcome) -> None:
        await record_outcome(event, book=deps().book)

    async def report_round() -> None:
        await report_if_leading(
            leadership=deps().leadership,
            book=deps().book,
            test=deps().test,
            window_s=settings.evaluator_window_s,
            publish=partial(kit.publish, kit.publisher(Topic.EVALUATIONS)),
        )

    kit.every(settings.evaluator_report_interval_s, "reports", report_round)
    return kit.app()

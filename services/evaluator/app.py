"""Evaluator's FastStream wiring: predictions and outcomes in, evaluations out.

Each prediction is scored as it arrives; outcomes (feedback joined to predictions) are
counted once per feedback id; every `PILLARS_EVALUATOR_REPORT_INTERVAL_S` one replica
(the holder of a Postgres advisory lock) reports every arm's metrics and the A/B decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from faststream import FastStream
from faststream.kafka import KafkaResponse

from services.evaluator.adapters.pg_score_book import PgScoreBook
from services.evaluator.config import EvaluatorSettings
from services.evaluator.handlers import SERVICE, evaluate_prediction, record_outcome, report
from services.evaluator.judge import GeneratorJudge
from services.evaluator.ports import ScoreBook
from services.evaluator.sequential import SequentialTest
from shared.contracts.events import Outcome, Prediction, RequestEmbedded
from shared.contracts.topics import Topic
from shared.generators import build_generator
from shared.kit.metrics import RETRIEVAL_RELEVANCE
from shared.kit.openinference import Kind, annotate_current_span, model_span, request_attributes
from shared.kit.publishing import envelope, publish_event
from shared.kit.service import ServiceKit
from shared.kit.telemetry import link_to

__all__ = ["REPORT_TENANT", "create_app"]

log = logging.getLogger(__name__)

# Reports cover an experiment across tenants; they are published under this tenant.
REPORT_TENANT = "platform"
_LEADER_LOCK = "pillars.evaluator.reports"


def create_app(settings: EvaluatorSettings | None = None) -> FastStream:
    """Build the evaluator app; the pool opens in its lifespan."""
    settings = settings or EvaluatorSettings()
    kit = ServiceKit(SERVICE, settings)
    books: list[PgScoreBook] = []
    pools: list[asyncpg.Pool] = []
    tasks: list[asyncio.Task[None]] = []
    test = SequentialTest(
        alpha=settings.ab_alpha,
        relative_effect=settings.ab_relative_effect,
        equivalence=settings.ab_equivalence,
        min_samples=settings.ab_min_samples,
    )
    # The judge's generator is built here (its model loads on first use, off the loop).
    judge_generator = build_generator(settings.judge) if settings.judge else None
    judge = GeneratorJudge(judge_generator) if judge_generator else None

    async def close_judge() -> None:
        if judge_generator is not None:
            await judge_generator.aclose()

    async def adapters(pool: asyncpg.Pool) -> dict[str, object]:
        book = PgScoreBook(pool)
        await book.create_schema()
        books.append(book)
        pools.append(pool)
        return {"book": book}

    evaluations = kit.publisher(Topic.EVALUATIONS)

    @kit.subscriber(Topic.PREDICTIONS)
    @evaluations
    async def on_prediction(event: Prediction) -> KafkaResponse:
        annotate_current_span(event)
        book: ScoreBook = kit.built("book")
        traceparent = kit.current_message().headers.get("traceparent")
        links = link_to(traceparent, reason="evaluation of prediction")
        attributes = request_attributes(event) | {"input.value": event.query}
        with model_span(
            kit.tracer, Kind.EVALUATOR, "evaluator score", attributes, links=links
        ) as span:
            evaluation = await evaluate_prediction(event, book=book, judge=judge)
            scores = {
                "pillars.retrieval_relevance": evaluation.retrieval_relevance,
                "pillars.top_score": evaluation.top_score,
                "pillars.groundedness": evaluation.groundedness,
                "pillars.judge_score": evaluation.judge_score,
                "pillars.judge_note": evaluation.judge_note or None,
            }
            span.set_attributes({k: v for k, v in scores.items() if v is not None})
        RETRIEVAL_RELEVANCE.labels(event.experiment, event.variant).observe(
            evaluation.retrieval_relevance or 0.0
        )
        return envelope(evaluation, kit.source)

    @kit.subscriber(Topic.REQUESTS_EMBEDDED)
    async def on_query(event: RequestEmbedded) -> None:
        """Keep the query's embedding: drift compares this window's queries to the last."""
        book: ScoreBook = kit.built("book")
        await book.record_query(
            event.tenant,
            event.request_id,
            event.experiment,
            event.request_occurred_at,
            event.query_vector,
        )

    @kit.subscriber(Topic.OUTCOMES)
    async def on_outcome(event: Outcome) -> None:
        annotate_current_span(event)
        await record_outcome(event, book=kit.built("book"))

    async def report_loop() -> None:
        async with pools[0].acquire() as leader:
            leading = False
            while True:
                try:
                    # Held by this connection until it closes: one replica reports at a time.
                    leading = leading or await leader.fetchval(
                        "SELECT pg_try_advisory_lock(hashtext($1))", _LEADER_LOCK
                    )
                    if leading:
                        for evaluation in await report(
                            book=books[0],
                            tenant=REPORT_TENANT,
                            window_s=settings.evaluator_window_s,
                            test=test,
                        ):
                            await publish_event(evaluations, evaluation, kit.source)
                except Exception:  # a failed round must not end the loop: log it, try again
                    log.exception("evaluation report failed")
                await asyncio.sleep(settings.evaluator_report_interval_s)

    async def start() -> None:
        tasks.append(asyncio.create_task(report_loop(), name="evaluator-reports"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return kit.app(
        lifespan=kit.database_lifespan(adapters),
        after_startup=[start],
        on_shutdown=[stop],
        after_shutdown=[close_judge],
    )

"""Evaluator's FastStream wiring: predictions -> evaluations."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from faststream import Context, FastStream
from faststream.kafka import KafkaResponse
from faststream.kafka.annotations import KafkaMessage

from services.evaluator.adapters.pg_score_book import PgScoreBook
from services.evaluator.handlers import SERVICE, evaluate_prediction
from services.evaluator.ports import ScoreBook
from shared.cloudevents import envelope
from shared.events import Prediction
from shared.metrics import RETRIEVAL_RELEVANCE
from shared.openinference import Kind, annotate_current_span, model_span, request_attributes
from shared.service import ServiceKit
from shared.settings import PillarsSettings
from shared.telemetry import link_to
from shared.topics import Topic

__all__ = ["create_app"]


def create_app(settings: PillarsSettings | None = None) -> FastStream:
    """Build the evaluator app; the pool opens in its lifespan."""
    settings = settings or PillarsSettings()
    kit = ServiceKit(SERVICE, settings)

    async def adapters(pool: asyncpg.Pool) -> dict[str, object]:
        book = PgScoreBook(pool)
        await book.create_schema()
        return {"book": book}

    @kit.subscriber(Topic.PREDICTIONS)
    @kit.publisher(Topic.EVALUATIONS)
    async def on_prediction(
        event: Prediction, message: KafkaMessage, book: Annotated[ScoreBook, Context()]
    ) -> KafkaResponse:
        annotate_current_span(event)
        links = link_to(message.headers.get("traceparent"), reason="evaluation of prediction")
        attributes = request_attributes(event) | {"input.value": event.query}
        with model_span(
            kit.tracer, Kind.EVALUATOR, "evaluator score", attributes, links=links
        ) as span:
            evaluation = await evaluate_prediction(event, book=book)
            span.set_attributes(
                {
                    "pillars.retrieval_relevance": evaluation.retrieval_relevance,
                    "pillars.top_score": evaluation.top_score,
                }
            )
        RETRIEVAL_RELEVANCE.labels(event.experiment, event.variant).observe(
            evaluation.retrieval_relevance
        )
        return envelope(evaluation, kit.source)

    return kit.app(lifespan=kit.database_lifespan(adapters))

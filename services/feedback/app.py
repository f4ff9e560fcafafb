"""Feedback's FastStream wiring: predictions -> ledger; feedback -> outcomes."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from faststream import Context, FastStream
from faststream.kafka import KafkaResponse
from faststream.kafka.annotations import KafkaMessage

from services.feedback.adapters.pg_ledger import PgPredictionLedger
from services.feedback.config import FeedbackSettings
from services.feedback.handlers import (
    SERVICE,
    find_prediction,
    join_feedback,
    remember_prediction,
)
from services.feedback.ports import PredictionLedger
from shared.cloudevents import envelope
from shared.events import Feedback, Prediction
from shared.metrics import FEEDBACK
from shared.openinference import annotate_current_span
from shared.service import ServiceKit
from shared.telemetry import link_current_span
from shared.topics import Topic

__all__ = ["create_app"]


def create_app(settings: FeedbackSettings | None = None) -> FastStream:
    """Build the feedback app; the pool opens in its lifespan."""
    settings = settings or FeedbackSettings()
    kit = ServiceKit(SERVICE, settings)

    async def adapters(pool: asyncpg.Pool) -> dict[str, object]:
        ledger = PgPredictionLedger(pool)
        await ledger.create_schema()
        return {"ledger": ledger}

    @kit.subscriber(Topic.PREDICTIONS)
    async def on_prediction(
        event: Prediction, message: KafkaMessage, ledger: Annotated[PredictionLedger, Context()]
    ) -> None:
        annotate_current_span(event)
        traceparent = message.headers.get("traceparent")
        await remember_prediction(event, ledger=ledger, traceparent=traceparent)

    @kit.subscriber(Topic.FEEDBACK)
    @kit.publisher(Topic.OUTCOMES)
    async def on_feedback(
        event: Feedback, ledger: Annotated[PredictionLedger, Context()]
    ) -> KafkaResponse:
        annotate_current_span(event)
        known = await find_prediction(event, ledger=ledger, wait_s=settings.feedback_wait_s)
        link_current_span(known.traceparent, reason="feedback on prediction")
        outcome = join_feedback(event, known)
        annotate_current_span(outcome)
        FEEDBACK.labels(outcome.experiment, outcome.variant, outcome.kind).inc()
        return envelope(outcome, kit.source)

    return kit.app(lifespan=kit.database_lifespan(adapters))

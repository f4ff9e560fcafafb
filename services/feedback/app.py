"""Feedback's FastStream wiring: predictions -> ledger and review queue; feedback (topic or
HTTP API) -> outcomes; the review page."""

from __future__ import annotations

import asyncpg
from faststream import FastStream
from faststream.kafka import KafkaResponse
from opentelemetry import trace

from services.feedback.adapters.http_api import HttpServer, build_http_app
from services.feedback.adapters.pg_ledger import PgPredictionLedger
from services.feedback.config import FeedbackSettings
from services.feedback.handlers import (
    SERVICE,
    find_prediction,
    join_feedback,
    remember_prediction,
)
from services.feedback.ports import PredictionLedger, ReviewPolicy
from shared.contracts.events import Feedback, Prediction
from shared.contracts.topics import Topic
from shared.kit.metrics import FEEDBACK
from shared.kit.openinference import annotate_current_span, request_attributes
from shared.kit.publishing import envelope, publish_event
from shared.kit.service import ServiceKit
from shared.kit.telemetry import link_current_span

__all__ = ["create_app"]


def create_app(settings: FeedbackSettings | None = None) -> FastStream:
    """Build the feedback app; the pool opens and the HTTP API listens in its lifespan."""
    settings = settings or FeedbackSettings()
    kit = ServiceKit(SERVICE, settings)
    policy = ReviewPolicy(
        sample_rate=settings.review_sample_rate,
        sample_rates=settings.review_sample_rates,
        confidence_below=settings.review_confidence_below,
    )
    ledgers: list[PgPredictionLedger] = []
    servers: list[HttpServer] = []
    feedback_topic = kit.publisher(Topic.FEEDBACK)

    async def adapters(pool: asyncpg.Pool) -> dict[str, object]:
        ledger = PgPredictionLedger(pool)
        await ledger.create_schema()
        ledgers.append(ledger)
        return {"ledger": ledger}

    @kit.subscriber(Topic.PREDICTIONS)
    async def on_prediction(event: Prediction) -> None:
        annotate_current_span(event)
        traceparent = kit.current_message().headers.get("traceparent")
        await remember_prediction(
            event, ledger=kit.built("ledger"), traceparent=traceparent, policy=policy
        )

    @kit.subscriber(Topic.FEEDBACK)
    @kit.publisher(Topic.OUTCOMES)
    async def on_feedback(event: Feedback) -> KafkaResponse:
        annotate_current_span(event)
        ledger: PredictionLedger = kit.built("ledger")
        known = await find_prediction(event, ledger=ledger, wait_s=settings.feedback_wait_s)
        link_current_span(known.traceparent, reason="feedback on prediction")
        outcome = join_feedback(event, known)
        annotate_current_span(outcome)
        if event.kind == "review":
            await ledger.mark_reviewed(event.tenant, event.request_id)
        FEEDBACK.labels(outcome.experiment, outcome.variant, outcome.kind).inc()
        return envelope(outcome, kit.source)

    async def submit(feedback: Feedback) -> None:
        """Publish feedback the HTTP API accepted, in a trace of its own."""
        tracer = kit.tracer.get_tracer("pillars.feedback")
        with tracer.start_as_current_span(
            "POST /v1/feedback",
            kind=trace.SpanKind.SERVER,
            attributes={**request_attributes(feedback), "http.route": "/v1/feedback"},
        ):
            await publish_event(feedback_topic, feedback, kit.source)

    async def start_http() -> None:
        if settings.feedback_http_port is None:
            return
        app = build_http_app(
            tokens=settings.feedback_tokens, submit=submit, queue=ledgers[0].review_queue
        )
        server = HttpServer(app, settings.feedback_http_host, settings.feedback_http_port)
        await server.start()
        servers.append(server)

    async def stop_http() -> None:
        for server in servers:
            await server.stop()

    return kit.app(
        lifespan=kit.database_lifespan(adapters),
        after_startup=[start_http],
        on_shutdown=[stop_http],
    )

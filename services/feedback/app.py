"""Feedback's FastStream wiring: predictions -> ledger and review queue; feedback (topic or
HTTP API) -> outcomes, and labels for training; the review page."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.feedback.bootstrap import FeedbackDependencies, bootstrap
from services.feedback.config import FeedbackSettings
from services.feedback.handlers import (
    SERVICE,
    expire_parked,
    record_feedback,
    remember_prediction,
    settle_parked,
)
from services.feedback.http_lifecycle import FeedbackHttpApi
from services.feedback.metrics import observe_outcome
from shared.contracts.cloudevents import ce_headers
from shared.contracts.events import Feedback, Outcome, Prediction
from shared.contracts.topics import Topic
from shared.kit.deadletter import dead_letter_value
from shared.kit.service import ServiceKit

__all__ = ["create_app"]

Assembler = Callable[[], AbstractAsyncContextManager[FeedbackDependencies]]


def create_app(
    settings: FeedbackSettings | None = None, *, assemble: Assembler | None = None
) -> FastStream:
    """Build the feedback app; nothing connects until it runs (`assemble` replaces the
    bootstrap, e.g. with fakes). The HTTP API listens once the broker is connected."""
    settings = settings or FeedbackSettings()
    kit = ServiceKit(SERVICE, settings)
    deps = kit.assemble(assemble or partial(bootstrap, settings))
    http = FeedbackHttpApi(
        deps, publisher=kit.publisher(Topic.FEEDBACK), tracer=kit.tracer, source=kit.source
    )

    outcomes = kit.publisher(Topic.OUTCOMES)

    async def publish_outcome(outcome: Outcome) -> None:
        observe_outcome(outcome)
        await kit.publish(outcomes, outcome)

    @kit.handles(Topic.PREDICTIONS)
    async def on_prediction(event: Prediction) -> None:
        await remember_prediction(
            event,
            ledger=deps().ledger,
            traceparent=kit.current_message().headers.get("traceparent"),
            policy=deps().policy,
        )
        await settle_parked(
            event,
            ledger=deps().ledger,
            labels=deps().labels,
            park=deps().park,
            publish=publish_outcome,
        )

    @kit.handles(Topic.FEEDBACK, publishes=Topic.OUTCOMES, observe=observe_outcome)
    async def on_feedback(event: Feedback) -> Outcome | None:
        return await record_feedback(
            event,
            ledger=deps().ledger,
            labels=deps().labels,
            park=deps().park,
            wait_s=settings.feedback_wait_s,
        )

    async def dead_letter_feedback(event: Feedback, reason: str) -> None:
        await dead_letter_value(
            kit.broker,
            topic=kit.topic(Topic.FEEDBACK),
            value=event.model_dump_json().encode(),
            key=event.message_key,
            headers=ce_headers(event, kit.source),
            reason=reason,
            consumer=kit.consumer_group(Topic.FEEDBACK),
        )

    async def expire_round() -> None:
        await expire_parked(
            park=deps().park, park_s=settings.feedback_park_s, dead_letter=dead_letter_feedback
        )

    kit.every(min(60.0, max(1.0, settings.feedback_park_s / 4)), "parked", expire_round)

    return kit.app(after_startup=[http.start], on_shutdown=[http.stop])

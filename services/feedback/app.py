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
    prediction_arrived,
    record_feedback,
)
from services.feedback.http_lifecycle import FeedbackHttpApi
from services.feedback.metrics import counted, observe_outcome
from shared.contracts.events import Feedback, Outcome, Prediction
from shared.contracts.topics import Topic
from shared.kit.deadletter import dead_letter_event
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

    publish_outcome = counted(partial(kit.publish, kit.publisher(Topic.OUTCOMES)))

    @kit.handles(Topic.PREDICTIONS)
    async def on_prediction(event: Prediction) -> None:
        await prediction_arrived(
            event,
            ledger=deps().ledger,
            labels=deps().labels,
            park=deps().park,
            traceparent=kit.current_message().headers.get("traceparent"),
            policy=deps().policy,
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

    dead_letter_parked_feedback(kit, deps, settings)
    return kit.app(after_startup=[http.start], on_shutdown=[http.stop])


def dead_letter_parked_feedback(
    kit: ServiceKit[FeedbackSettings],
    deps: Callable[[], FeedbackDependencies],
    settings: FeedbackSettings,
) -> None:
    """Every so often (on each replica; they skip each other's rows), send the feedback
    parked longer than `PILLARS_FEEDBACK_PARK_S` to the feedback DLQ."""
    dead_letter = partial(
        dead_letter_event,
        kit.broker,
        topic=kit.topic(Topic.FEEDBACK),
        source=kit.source,
        consumer=kit.consumer_group(Topic.FEEDBACK),
    )

    async def expire() -> None:
        await expire_parked(
            park=deps().park, park_s=settings.feedback_park_s, dead_letter=dead_letter
        )

    kit.every(min(60.0, max(1.0, settings.feedback_park_s / 4)), "parked", expire)

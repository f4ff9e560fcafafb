"""Feedback's FastStream wiring: predictions -> ledger and review queue; feedback (topic or
HTTP API) -> outcomes, and labels for training; the review page."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.feedback.bootstrap import FeedbackDependencies, bootstrap
from services.feedback.config import FeedbackSettings
from services.feedback.handlers import SERVICE, record_feedback, remember_prediction
from services.feedback.http_lifecycle import FeedbackHttpApi
from services.feedback.metrics import observe_outcome
from shared.contracts.events import Feedback, Outcome, Prediction
from shared.contracts.topics import Topic
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

    @kit.handles(Topic.PREDICTIONS)
    async def on_prediction(event: Prediction) -> None:
        await remember_prediction(
            event,
            ledger=deps().ledger,
            traceparent=kit.current_message().headers.get("traceparent"),
            policy=deps().policy,
        )

    @kit.handles(Topic.FEEDBACK, publishes=Topic.OUTCOMES, observe=observe_outcome)
    async def on_feedback(event: Feedback) -> Outcome:
        return await record_feedback(
            event, ledger=deps().ledger, labels=deps().labels, wait_s=settings.feedback_wait_s
        )

    return kit.app(after_startup=[http.start], on_shutdown=[http.stop])

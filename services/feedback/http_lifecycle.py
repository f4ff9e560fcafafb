"""The feedback HTTP API and review page over the service's run: they listen once the
broker is connected (accepted feedback is published) and stop before it disconnects."""

from __future__ import annotations

from collections.abc import Callable

from faststream.kafka.publisher import DefaultPublisher
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from services.feedback.adapters.http_api import HttpServer, build_http_app
from services.feedback.adapters.http_guard import HttpLimits
from services.feedback.bootstrap import FeedbackDependencies
from shared.contracts.events import Feedback
from shared.kit.openinference import request_attributes
from shared.kit.publishing import publish_event

__all__ = ["FeedbackHttpApi"]


class FeedbackHttpApi:
    """Serves the HTTP API with the assembled ledger's review queue; publishes what it accepts.

    `start` and `stop` are the app's after-startup and on-shutdown hooks; with no
    `feedback_http_port` configured they do nothing.
    """

    def __init__(
        self,
        deps: Callable[[], FeedbackDependencies],
        *,
        publisher: DefaultPublisher,
        tracer: TracerProvider,
        source: str,
    ) -> None:
        self._deps = deps
        self._publisher = publisher
        self._tracer = tracer.get_tracer("pillars.feedback")
        self._source = source
        self._server: HttpServer | None = None

    @property
    def url(self) -> str | None:
        """Return where the API listens, once started."""
        return None if self._server is None else self._server.url

    async def start(self) -> None:
        """Listen on the configured host and port, if a port is configured."""
        deps = self._deps()
        settings = deps.settings
        if settings.feedback_http_port is None:
            return
        limits = HttpLimits(
            max_body_bytes=settings.feedback_max_body_bytes,
            rate_per_s=settings.feedback_rate_per_s,
            burst=settings.feedback_rate_burst,
            session_s=settings.review_session_s,
        )
        app = build_http_app(
            tokens=settings.feedback_tokens,
            submit=self.submit,
            queue=deps.ledger.review_queue,
            limits=limits,
        )
        server = HttpServer(app, settings.feedback_http_host, settings.feedback_http_port)
        await server.start()
        self._server = server

    async def stop(self) -> None:
        """Finish open requests and stop listening."""
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def submit(self, feedback: Feedback) -> None:
        """Publish feedback the HTTP API accepted, in a trace of its own."""
        with self._tracer.start_as_current_span(
            "POST /v1/feedback",
            kind=trace.SpanKind.SERVER,
            attributes={**request_attributes(feedback), "http.route": "/v1/feedback"},
        ):
            await publish_event(self._publisher, feedback, self._source)

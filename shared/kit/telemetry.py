"""OpenTelemetry setup: OTLP export when the standard `OTEL_*` variables ask for it.

Every service reports to one trace project (`openinference.project.name`, default `pillars`,
which Phoenix groups by); spans are stamped with the service and named per the messaging
conventions `OTEL_SEMCONV_STABILITY_OPT_IN` selects (see `shared.kit.semconv`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = [
    "ServiceAttribute",
    "continue_trace",
    "current_trace_id",
    "link_current_span",
    "link_to",
    "linked_trace_attributes",
    "nanoseconds",
    "setup_tracing",
]

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
PROJECT_ATTRIBUTE = "openinference.project.name"
LINKED_TRACE = "pillars.linked_trace_id"
DEFAULT_PROJECT = "pillars"


def setup_tracing(service: str) -> TracerProvider:
    """Build the service's tracer provider; spans go nowhere unless an OTLP endpoint is set."""
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"pillars-{service}"}
    if PROJECT_ATTRIBUTE not in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes[PROJECT_ATTRIBUTE] = DEFAULT_PROJECT
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(ServiceAttribute(service))
    exporter_choice = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    if exporter_choice != "none" and any(os.environ.get(v) for v in _ENDPOINT_VARS):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)  # the first service in a process owns the global
    return provider


def nanoseconds(moment: datetime | None) -> int | None:
    """Return `moment` as the epoch nanoseconds OpenTelemetry's span times take (None stays)."""
    return None if moment is None else int(moment.timestamp() * 1e9)


def current_trace_id() -> str | None:
    """Return the W3C trace id of the active span, or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def link_to(traceparent: str | None, *, reason: str) -> list[trace.Link]:
    """Return a link to the span a W3C `traceparent` names (none without a valid one)."""
    if not traceparent:
        return []
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    target = trace.get_current_span(context).get_span_context()
    return [trace.Link(target, {"pillars.link.reason": reason})] if target.is_valid else []


def linked_trace_attributes(links: list[trace.Link]) -> dict[str, str]:
    """Return the linked trace's id as an attribute, for trace UIs that drop links (Phoenix)."""
    return {LINKED_TRACE: f"{links[0].context.trace_id:032x}"} if links else {}


def link_current_span(traceparent: str | None, *, reason: str) -> None:
    """Link the active span to the trace a W3C `traceparent` names (no-op without one)."""
    links = link_to(traceparent, reason=reason)
    span = trace.get_current_span()
    for link in links:
        span.add_link(link.context, link.attributes)
    span.set_attributes(linked_trace_attributes(links))


@contextmanager
def continue_trace(
    provider: TracerProvider,
    headers: Mapping[str, str],
    name: str,
    started_at: datetime | None = None,
) -> Iterator[trace.Span]:
    """Run a block in the trace a message's `traceparent` names, linked to the current span.

    A batch is processed under one span of its own; whatever is published for one
    message of it belongs in that message's trace, so each request stays one trace.
    """
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract(dict(headers))
    batch = trace.get_current_span().get_span_context()
    links = [trace.Link(batch)] if batch.is_valid else []
    tracer = provider.get_tracer("pillars")
    start = nanoseconds(started_at)
    with tracer.start_as_current_span(name, context=parent, links=links, start_time=start) as span:
        yield span


class ServiceAttribute(SpanProcessor):
    """Stamps every span with the service that made it (trace UIs do not all show resources)."""

    def __init__(self, service: str) -> None:
        self.service = service

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute("pillars.service", self.service)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

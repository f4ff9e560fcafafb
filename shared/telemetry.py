"""OpenTelemetry setup: OTLP export when the standard `OTEL_*` variables ask for it."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = ["continue_trace", "current_trace_id", "link_current_span", "setup_tracing"]

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def setup_tracing(service: str) -> TracerProvider:
    """Build the service's tracer provider; spans go nowhere unless an OTLP endpoint is set."""
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"pillars-{service}"}
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter_choice = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    if exporter_choice != "none" and any(os.environ.get(v) for v in _ENDPOINT_VARS):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)  # the first service in a process owns the global
    return provider


def current_trace_id() -> str | None:
    """Return the W3C trace id of the active span, or None outside a trace."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def link_current_span(traceparent: str | None, *, reason: str) -> None:
    """Link the active span to the trace a W3C `traceparent` names (no-op without one)."""
    if not traceparent:
        return
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    target = trace.get_current_span(context).get_span_context()
    if target.is_valid:
        trace.get_current_span().add_link(target, {"pillars.link.reason": reason})


@contextmanager
def continue_trace(
    provider: TracerProvider, headers: Mapping[str, str], name: str
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
    with tracer.start_as_current_span(name, context=parent, links=links) as span:
        yield span

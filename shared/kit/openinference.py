"""Model work as OpenInference spans, so LLM-aware trace UIs (Phoenix, Arize) render it.

The span kinds are OpenInference's (EMBEDDING, RETRIEVER, LLM, CHAIN, EVALUATOR); the request's
tenant, experiment arm and ids ride on every span pillars opens for it (`request_attributes`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openinference.semconv.trace import (
    DocumentAttributes,
    EmbeddingAttributes,
    OpenInferenceSpanKindValues,
    SpanAttributes,
)
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util.types import AttributeValue

from shared.contracts.events import Event, ModelRef, RetrievedChunk
from shared.kit.telemetry import linked_trace_attributes, nanoseconds

__all__ = [
    "Kind",
    "ModelWork",
    "annotate_current_span",
    "embedding_attributes",
    "llm_attributes",
    "model_span",
    "request_attributes",
    "retrieval_attributes",
]

Kind = OpenInferenceSpanKindValues
Attributes = Mapping[str, AttributeValue]

# Text on spans is for reading in a trace UI, not for replay: keep spans small.
MAX_TEXT = 2000


def _text(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def request_attributes(event: Event) -> dict[str, AttributeValue]:
    """Return the tenant, ids and experiment arm of `event` (those it has) as span attributes."""
    attributes: dict[str, AttributeValue] = {"pillars.tenant": event.tenant}
    for field, name in (
        ("request_id", "pillars.request_id"),
        ("document_id", "pillars.document_id"),
        ("experiment", "pillars.experiment"),
        ("variant", "pillars.variant"),
        ("user_id", SpanAttributes.USER_ID),
        ("session_id", SpanAttributes.SESSION_ID),
    ):
        value = getattr(event, field, None)
        if value is not None:
            attributes[name] = str(value)
    return attributes


def annotate_current_span(event: Event) -> None:
    """Put `event`'s tenant, ids and arm on the active span (e.g. FastStream's process span)."""
    trace.get_current_span().set_attributes(request_attributes(event))


def embedding_attributes(model: ModelRef, texts: Sequence[str], batch: int) -> dict[str, Any]:
    """Return an EMBEDDING span's attributes: the model and the texts (vectors are left out)."""
    attributes: dict[str, Any] = {
        SpanAttributes.EMBEDDING_MODEL_NAME: model.name,
        "pillars.model.version": model.version,
        "pillars.embed.batch_size": batch,
    }
    for i, text in enumerate(texts):
        prefix = f"{SpanAttributes.EMBEDDING_EMBEDDINGS}.{i}."
        attributes[prefix + EmbeddingAttributes.EMBEDDING_TEXT] = _text(text)
    return attributes


_AUDITED = (
    "mode",
    "similarity",
    "dense_rank",
    "dense_score",
    "lexical_rank",
    "lexical_score",
    "fused_score",
)


def retrieval_attributes(sources: Sequence[RetrievedChunk]) -> dict[str, Any]:
    """Return a RETRIEVER span's documents: id, content, score and where each comes from."""
    attributes: dict[str, Any] = {}
    for i, source in enumerate(sources):
        prefix = f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}."
        metadata: dict[str, object] = {
            "document_id": source.document_id,
            "title": source.title,
            "url": source.source,
        }
        metadata |= {  # how the passage was found: what each side of the search said of it
            name: value for name in _AUDITED if (value := getattr(source, name)) is not None
        }
        attributes |= {
            prefix + DocumentAttributes.DOCUMENT_ID: str(source.chunk_id),
            prefix + DocumentAttributes.DOCUMENT_CONTENT: _text(source.text),
            prefix + DocumentAttributes.DOCUMENT_SCORE: source.score,
            prefix + DocumentAttributes.DOCUMENT_METADATA: json.dumps(metadata),
        }
    return attributes


def llm_attributes(
    model: ModelRef,
    *,
    prompt: str,
    answer: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float,
    template_version: str | None,
) -> dict[str, Any]:
    """Return an LLM span's attributes: model, prompt and answer, tokens, cost, template."""
    attributes: dict[str, Any] = {
        SpanAttributes.LLM_MODEL_NAME: model.name,
        SpanAttributes.LLM_PROVIDER: "pillars",
        "pillars.model.version": model.version,
        SpanAttributes.INPUT_VALUE: _text(prompt),
        SpanAttributes.OUTPUT_VALUE: _text(answer),
        SpanAttributes.LLM_TOKEN_COUNT_PROMPT: input_tokens,
        SpanAttributes.LLM_TOKEN_COUNT_COMPLETION: output_tokens,
        SpanAttributes.LLM_TOKEN_COUNT_TOTAL: input_tokens + output_tokens,
        SpanAttributes.LLM_COST_TOTAL: cost_usd,
    }
    if template_version is not None:
        attributes[SpanAttributes.LLM_PROMPT_TEMPLATE_VERSION] = template_version
    return attributes


@dataclass(frozen=True)
class ModelWork:
    """Model work already done and timed, to be recorded as a span in a request's trace."""

    kind: OpenInferenceSpanKindValues
    name: str
    attributes: Attributes
    started_at: datetime
    finished_at: datetime

    def record(self, provider: TracerProvider) -> None:
        """Record the work as a span under the current one."""
        with model_span(
            provider,
            self.kind,
            self.name,
            self.attributes,
            started_at=self.started_at,
            finished_at=self.finished_at,
        ):
            pass


@contextmanager
def model_span(
    provider: TracerProvider,
    kind: OpenInferenceSpanKindValues,
    name: str,
    attributes: Attributes,
    *,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    links: Sequence[trace.Link] = (),
) -> Iterator[trace.Span]:
    """Open an OpenInference span of `kind` under the current one.

    With `started_at`/`finished_at` the span takes those times, for work that was timed
    elsewhere (a batch encoded once for many requests, each in its own trace).
    """
    tracer = provider.get_tracer("pillars.openinference")
    span = tracer.start_span(
        name,
        attributes={
            SpanAttributes.OPENINFERENCE_SPAN_KIND: kind.value,
            **attributes,
            **linked_trace_attributes(list(links)),
        },
        start_time=nanoseconds(started_at),
        links=links,
    )
    try:
        with trace.use_span(span, end_on_exit=False, record_exception=True):
            yield span
    finally:
        span.end(end_time=nanoseconds(finished_at))

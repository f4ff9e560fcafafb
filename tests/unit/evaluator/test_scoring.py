"""A prediction is scored under an "evaluator score" EVALUATOR span linked to its trace."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.evaluator.scoring import score_prediction
from tests.fakes import InMemoryScoreBook
from tests.unit.evaluator.test_handlers import prediction

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


async def test_the_scores_are_the_span_attributes_and_the_span_links_to_the_prediction() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    made = prediction("r1", [0.8, 0.4])

    evaluation = await score_prediction(
        made, book=InMemoryScoreBook(), judge=None, tracer=provider, traceparent=TRACEPARENT
    )
    assert evaluation is not None

    [span] = exporter.get_finished_spans()
    assert span.name == "evaluator score"
    attributes = dict(span.attributes or {})
    assert attributes["openinference.span.kind"] == "EVALUATOR"
    assert attributes["input.value"] == "q"
    assert (attributes["pillars.tenant"], attributes["pillars.request_id"]) == ("acme", "r1")
    assert attributes["pillars.retrieval_relevance"] == evaluation.retrieval_relevance
    assert attributes["pillars.top_score"] == 0.8
    assert "pillars.judge_score" not in attributes  # no judge, no rating
    assert "pillars.judge_note" not in attributes
    [link] = span.links
    assert format(link.context.trace_id, "032x") == TRACE_ID
    assert dict(link.attributes or {}) == {"pillars.link.reason": "evaluation of prediction"}


async def test_without_a_traceparent_the_span_links_to_nothing() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    await score_prediction(
        prediction("r1", [0.5]),
        book=InMemoryScoreBook(),
        judge=None,
        tracer=provider,
        traceparent=None,
    )

    [span] = exporter.get_finished_spans()
    assert not span.links


async def test_a_refused_request_is_not_scored_nor_counted() -> None:
    book = InMemoryScoreBook()
    refused = prediction("r1", []).model_copy(update={"rejected": "over its rate"})
    evaluation = await score_prediction(
        refused, book=book, judge=None, tracer=TracerProvider(), traceparent=None
    )
    assert evaluation is None
    assert book.scores == {}

"""The traced retriever returns what it wraps and records the search as a RETRIEVER span."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from services.inference.adapters.traced_retriever import TracedRetriever
from tests.fakes import FakeEncoder
from tests.unit.inference.test_handlers import indexed

pytestmark = pytest.mark.observability


async def test_search_is_a_retriever_span_with_scored_documents() -> None:
    index = await indexed("cats purr softly", "json dumps serializes objects", "dogs bark")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    retriever = TracedRetriever(index, provider, ef_search=200)
    vector = FakeEncoder().vector("json objects")
    before = REGISTRY.get_sample_value("pillars_retrieval_duration_seconds_count") or 0.0

    found = await retriever.nearest("acme", vector, 2)

    assert found == await index.nearest("acme", vector, 2)
    [span] = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["openinference.span.kind"] == "RETRIEVER"
    assert (attributes["pillars.tenant"], attributes["pillars.top_k"]) == ("acme", 2)
    assert attributes["retrieval.documents.0.document.score"] == found[0].score
    assert attributes["retrieval.documents.1.document.content"] == found[1].text
    assert "retrieval.documents.2.document.id" not in attributes
    after = REGISTRY.get_sample_value("pillars_retrieval_duration_seconds_count")
    assert after == before + 1

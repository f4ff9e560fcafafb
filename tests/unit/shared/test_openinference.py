"""Model work as OpenInference spans: kinds, documents, times taken elsewhere, links."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.contracts.events import (
    DocumentChanged,
    InferenceRequest,
    ModelRef,
    RetrievedChunk,
    utcnow,
)
from shared.kit.openinference import (
    MAX_TEXT,
    Kind,
    ModelWork,
    embedding_attributes,
    llm_attributes,
    model_span,
    request_attributes,
    retrieval_attributes,
)
from shared.kit.telemetry import link_to

pytestmark = pytest.mark.observability

MODEL = ModelRef(name="all-MiniLM-L6-v2", version="0.1.0+onnx-int8")


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_request_attributes_name_the_tenant_ids_and_what_the_event_has() -> None:
    request = InferenceRequest(tenant="acme", request_id="r1", query="q", user_id="u7")
    assert request_attributes(request) == {
        "pillars.tenant": "acme",
        "pillars.request_id": "r1",
        "user.id": "u7",
    }
    document = DocumentChanged(tenant="acme", document_id="d1", text="x")
    assert request_attributes(document) == {"pillars.tenant": "acme", "pillars.document_id": "d1"}


def test_retrieved_documents_carry_id_content_score_and_source() -> None:
    chunk = RetrievedChunk(
        chunk_id=uuid.uuid4(), document_id="d1", title="T", source="u", text="x" * 5000, score=0.8
    )
    attributes = retrieval_attributes([chunk])
    assert attributes["retrieval.documents.0.document.id"] == str(chunk.chunk_id)
    assert attributes["retrieval.documents.0.document.score"] == 0.8
    assert len(attributes["retrieval.documents.0.document.content"]) == MAX_TEXT
    assert '"document_id": "d1"' in attributes["retrieval.documents.0.document.metadata"]


def test_llm_attributes_count_tokens_and_name_the_template() -> None:
    attributes = llm_attributes(
        MODEL,
        prompt="p",
        answer="a",
        input_tokens=12,
        output_tokens=30,
        cost_usd=0.002,
        template_version="rag-v3",
    )
    assert attributes["llm.token_count.total"] == 42
    assert attributes["llm.prompt_template.version"] == "rag-v3"
    assert attributes["llm.cost.total"] == 0.002
    assert "llm.prompt_template.version" not in llm_attributes(
        MODEL,
        prompt="p",
        answer="a",
        input_tokens=0,
        output_tokens=0,
        cost_usd=0,
        template_version=None,
    )


def test_work_timed_elsewhere_keeps_its_times(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    started = utcnow() - timedelta(seconds=2)
    finished = started + timedelta(milliseconds=250)
    attributes = embedding_attributes(MODEL, ["how do I sort?"], 8)
    ModelWork(Kind.EMBEDDING, "embed query", attributes, started, finished).record(provider)
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["openinference.span.kind"] == "EMBEDDING"
    assert span.attributes["embedding.embeddings.0.embedding.text"] == "how do I sort?"
    assert span.attributes["pillars.embed.batch_size"] == 8
    assert span.end_time is not None
    assert span.start_time is not None
    assert (span.end_time - span.start_time) == pytest.approx(250e6, abs=1e3)


def test_a_model_span_is_a_child_and_links_to_another_trace(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("parent") as parent:
        links = link_to(other, reason="evaluation of prediction")
        with model_span(provider, Kind.EVALUATOR, "score", {"a": 1}, links=links):
            pass
    child = next(s for s in exporter.get_finished_spans() if s.name == "score")
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id
    assert [f"{link.context.trace_id:032x}" for link in child.links] == [
        "0af7651916cd43dd8448eb211c80319c"
    ]
    assert child.attributes is not None
    assert child.attributes["pillars.linked_trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert link_to(None, reason="x") == []
    assert link_to("garbage", reason="x") == []


def test_an_error_in_model_work_is_recorded_on_its_span(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = spans
    with pytest.raises(RuntimeError), model_span(provider, Kind.RETRIEVER, "retrieve", {}):
        raise RuntimeError("database went away")
    [span] = exporter.get_finished_spans()
    assert span.status.status_code is trace.StatusCode.ERROR

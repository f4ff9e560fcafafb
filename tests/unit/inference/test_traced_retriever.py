"""The traced retriever returns what it wraps and records the search as a RETRIEVER span."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from services.inference.adapters.traced_retriever import TracedRetriever
from services.inference.retrieval import RetrievalPlan
from shared.contracts.events import RetrievedChunk
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


class Fixed:
    """A retriever answering fixed hybrid chunks, recording the plan it was asked with."""

    def __init__(self, chunks: list[RetrievedChunk]) -> None:
        self.chunks = chunks
        self.plans: list[tuple[str, RetrievalPlan | None]] = []

    async def nearest(
        self,
        tenant: str,
        vector: Sequence[float],
        k: int,
        *,
        ef_search: int | None = None,
        text: str = "",
        plan: RetrievalPlan | None = None,
    ) -> list[RetrievedChunk]:
        self.plans.append((text, plan))
        return self.chunks[:k]


async def test_a_hybrid_search_span_carries_each_sides_rank_and_score() -> None:
    chunk = RetrievedChunk(
        chunk_id=uuid.uuid4(),
        document_id="d",
        text="frobnicate_widget resets widgets",
        score=1 / 61 + 1 / 64,
        mode="hybrid",
        similarity=0.31,
        dense_rank=4,
        dense_score=0.31,
        lexical_rank=1,
        lexical_score=7.5,
        fused_score=1 / 61 + 1 / 64,
    )
    lexical_only = chunk.model_copy(
        update={"chunk_id": uuid.uuid4(), "dense_rank": None, "dense_score": None}
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    inner = Fixed([chunk, lexical_only])
    plan = RetrievalPlan(mode="hybrid", rrf_k=60, candidates=40)

    found = await TracedRetriever(inner, provider, ef_search=200).nearest(
        "acme", [0.0], 2, text="frobnicate_widget?", plan=plan
    )

    assert found == [chunk, lexical_only]
    assert inner.plans == [("frobnicate_widget?", plan)]
    [span] = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["pillars.retrieval.mode"] == "hybrid"
    assert attributes["pillars.retrieval.embedder"] == "minilm"
    assert (attributes["pillars.retrieval.rrf_k"], attributes["pillars.retrieval.candidates"]) == (
        60,
        40,
    )
    first = json.loads(str(attributes["retrieval.documents.0.document.metadata"]))
    assert first | {"document_id": "d"} == first
    assert (first["dense_rank"], first["dense_score"]) == (4, 0.31)
    assert (first["lexical_rank"], first["lexical_score"]) == (1, 7.5)
    assert first["fused_score"] == pytest.approx(1 / 61 + 1 / 64)
    second = json.loads(str(attributes["retrieval.documents.1.document.metadata"]))
    assert "dense_rank" not in second
    assert second["lexical_rank"] == 1

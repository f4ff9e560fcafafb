from datetime import timedelta

import pytest

from services.embedding.handlers import index_documents
from services.inference.handlers import UnknownSolution, answer_request, shadow_requests
from services.inference.pipeline import NO_ANSWER, SolutionRunner
from services.inference.solutions import Solution
from services.ingestion.handlers import chunk_document
from shared.contracts.events import DocumentChanged, RequestEmbedded, ShadowArm, utcnow
from tests.fakes import FakeEncoder, InMemoryIndex, WordTokenizer
from tests.unit.inference.test_pipeline import FakeClassifiers, FakeGenerators

RAG = Solution.model_validate(
    {"name": "rag", "version": "7", "retriever": {"top_k": 4}, "generator": {"kind": "extractive"}}
)


def embedded(
    query: str, tenant: str = "acme", top_k: int | None = 2, **extra: object
) -> RequestEmbedded:
    return RequestEmbedded(
        tenant=tenant,
        request_id="r1",
        query=query,
        experiment="e",
        variant="a",
        solution="rag",
        top_k=top_k,
        request_occurred_at=utcnow(),
        query_vector=FakeEncoder().vector(query),
        embedding_model=FakeEncoder.model,
        **extra,
    )


async def indexed(*texts: str, tenant: str = "acme") -> InMemoryIndex:
    index = InMemoryIndex()
    docs = [
        chunk_document(
            DocumentChanged(tenant=tenant, document_id=f"d{i}", text=t),
            tokens=WordTokenizer(),
            chunk_size=100,
            overlap=0,
            max_bytes=10_000,
        )
        for i, t in enumerate(texts)
    ]
    await index_documents(docs, encoder=FakeEncoder(), store=index)
    return index


def runner(index: InMemoryIndex) -> SolutionRunner:
    return SolutionRunner(index, FakeClassifiers(), FakeGenerators(), utcnow)


async def test_answer_is_the_best_passage_with_provenance() -> None:
    index = await indexed("cats purr softly", "json dumps serializes objects", "dogs bark")
    prediction = await answer_request(
        embedded("json dumps objects"),
        solutions={"rag": RAG},
        runner=runner(index),
        trace_id="ab" * 16,
    )
    assert prediction.answer == "json dumps serializes objects"
    assert prediction.sources[0].document_id == "d1"
    assert len(prediction.sources) == 2  # the arm's top_k overrides the solution's 4
    assert prediction.sources[0].score >= prediction.sources[1].score
    assert prediction.trace_id == "ab" * 16
    assert prediction.variant == "a"
    assert (prediction.solution, prediction.solution_version) == ("rag", "7")
    assert [b.block for b in prediction.blocks] == ["retriever", "generator"]
    assert [s.service for s in prediction.stages] == ["inference"]
    assert not prediction.shadow


async def test_without_an_arm_depth_the_solution_decides() -> None:
    index = await indexed(*(f"passage number {i}" for i in range(6)))
    prediction = await answer_request(
        embedded("passage", top_k=None), solutions={"rag": RAG}, runner=runner(index)
    )
    assert len(prediction.sources) == 4


async def test_other_tenants_passages_are_never_returned() -> None:
    index = await indexed("json dumps serializes objects", tenant="other")
    prediction = await answer_request(
        embedded("json dumps"), solutions={"rag": RAG}, runner=runner(index)
    )
    assert prediction.sources == []
    assert prediction.answer == NO_ANSWER


async def test_an_unknown_solution_is_a_clear_error() -> None:
    with pytest.raises(UnknownSolution, match=r"no solution 'rag'.*\['other'\]"):
        await answer_request(
            embedded("q"), solutions={"other": RAG}, runner=runner(InMemoryIndex())
        )


def test_shadow_requests_carry_the_shadow_arm_and_their_own_ids() -> None:
    request = embedded(
        "q",
        shadows=[
            ShadowArm(variant="s1", solution="router"),
            ShadowArm(variant="s2", solution="x", top_k=9),
        ],
    )
    shadows = shadow_requests(request)
    assert [(s.variant, s.solution, s.top_k) for s in shadows] == [
        ("s1", "router", None),
        ("s2", "x", 9),
    ]
    assert all(s.shadows == [] and s.request_id == request.request_id for s in shadows)
    assert len({request.event_id, *(s.event_id for s in shadows)}) == 3
    assert shadow_requests(embedded("q")) == []
    assert shadows[0].request_occurred_at - request.request_occurred_at == timedelta(0)

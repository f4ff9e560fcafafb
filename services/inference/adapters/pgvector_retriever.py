"""Tenant-filtered retrieval in Postgres: dense (HNSW), lexical (GIN, BM25) or both fused,
in one round trip."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np

from services.inference.adapters.retrieval_sql import retrieval_sql
from services.inference.retrieval import RetrievalPlan
from shared.contracts.events import RetrievedChunk
from shared.kit.db_tenancy import tenant_transaction

__all__ = ["PgRetriever"]

DENSE = RetrievalPlan()


class PgRetriever:
    """Retriever on pgvector and Postgres text search; iterative index scans keep a
    selective tenant filter returning k rows."""

    def __init__(self, pool: asyncpg.Pool, *, ef_search: int, iterative_scan: str) -> None:
        self._pool = pool
        self._ef_search = ef_search
        self._iterative_scan = iterative_scan

    async def nearest(
        self,
        tenant: str,
        vector: Sequence[float],
        k: int,
        *,
        ef_search: int | None = None,
        text: str = "",
        plan: RetrievalPlan = DENSE,
    ) -> list[RetrievedChunk]:
        """Return up to `k` of the tenant's chunks for the query `text` and its `vector`, best
        first by `plan`'s mode (`ef_search`: this search's HNSW candidate list, else the
        configured one)."""
        sql, names = retrieval_sql(plan)
        values = {
            "vector": np.asarray(vector, dtype=np.float32),
            "tenant": tenant,
            "text": text,
            "k": k,
            "candidates": max(plan.candidates, k) if plan.mode == "hybrid" else k,
            "rrf_k": plan.rrf_k,
            "dense_weight": plan.dense_weight,
            "df_cap": plan.lexical_df_cap,
        }
        search = {
            "hnsw.ef_search": str(ef_search or self._ef_search),
            "hnsw.iterative_scan": self._iterative_scan,
        }  # set with the tenant in one round trip
        async with tenant_transaction(self._pool, tenant, **search) as conn:
            rows = await conn.fetch(sql, *(values[name] for name in names))
        return [_chunk(row, plan) for row in rows]


def _chunk(row: asyncpg.Record, plan: RetrievalPlan) -> RetrievedChunk:
    score = {"dense": "dense_score", "lexical": "lexical_score", "hybrid": "fused_score"}
    return RetrievedChunk(
        chunk_id=row["chunk_id"],
        document_id=row["document_id"],
        title=row["title"],
        source=row["source"],
        text=row["text"],
        score=float(row[score[plan.mode]]),
        mode=plan.mode,
        similarity=float(row["similarity"]),
        dense_rank=row["dense_rank"],
        dense_score=row["dense_score"],
        lexical_rank=row["lexical_rank"],
        lexical_score=row["lexical_score"],
        fused_score=row["fused_score"],
    )

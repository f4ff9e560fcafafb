"""Tenant-filtered nearest-neighbour search over the HNSW index in pgvector."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np

from shared.contracts.events import RetrievedChunk
from shared.kit.db_tenancy import tenant_transaction

__all__ = ["PgRetriever"]


class PgRetriever:
    """Retriever on pgvector: cosine distance, iterative index scans for selective filters."""

    def __init__(self, pool: asyncpg.Pool, *, ef_search: int, iterative_scan: str) -> None:
        self._pool = pool
        self._ef_search = ef_search
        self._iterative_scan = iterative_scan

    async def nearest(
        self, tenant: str, vector: Sequence[float], k: int, *, ef_search: int | None = None
    ) -> list[RetrievedChunk]:
        """Return up to `k` of the tenant's chunks, most similar first (`ef_search`: this
        search's HNSW candidate list, else the configured one)."""
        search = {
            "hnsw.ef_search": str(ef_search or self._ef_search),
            "hnsw.iterative_scan": self._iterative_scan,
        }  # set with the tenant in one round trip
        async with tenant_transaction(self._pool, tenant, **search) as conn:
            rows = await conn.fetch(
                "SELECT chunk_id, document_id, title, source, text, "
                "1 - (embedding <=> $1) AS score FROM pillars_chunks "
                "WHERE tenant = $2 ORDER BY embedding <=> $1 LIMIT $3",
                np.asarray(vector, dtype=np.float32),
                tenant,
                k,
            )
        return [
            RetrievedChunk(
                chunk_id=row["chunk_id"],
                document_id=row["document_id"],
                title=row["title"],
                source=row["source"],
                text=row["text"],
                score=float(row["score"]),
            )
            for row in rows
        ]

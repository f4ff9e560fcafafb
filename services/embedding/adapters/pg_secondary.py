"""Secondary embedding models' vectors in the chunk table: a nullable column each, with its
own HNSW index, filled when a chunk is indexed or later by the backfill.

A column on the chunk row rather than a side table: a chunk's version, delete and tenant
policy then hold for every model's vector in the same row, with no join nor second write
to keep in step; a column added to an existing table is empty (no rewrite), so adding a
model costs nothing until its vectors are filled.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import asyncpg
import numpy as np

from shared.contracts.embedders import DIMENSIONS, EmbedderName, vector_column
from shared.kit.db_tenancy import tenant_transaction

__all__ = ["PgBackfill", "fill_vectors", "secondary_ddl"]


def secondary_ddl(m: int, ef_construction: int) -> str:
    """Return the DDL adding each secondary model's column and HNSW index, idempotently,
    and an index of the chunks lacking its vector (the backfill's, and the background
    fill's every few seconds: small once they are filled, never a scan of the table)."""
    steps = []
    for name, dimension in DIMENSIONS.items():
        column = vector_column(name)
        steps.append(f"""
    ALTER TABLE pillars_chunks ADD COLUMN IF NOT EXISTS {column} vector({dimension});
    CREATE INDEX IF NOT EXISTS pillars_chunks_{column}_hnsw
        ON pillars_chunks USING hnsw ({column} vector_cosine_ops)
        WITH (m = {m}, ef_construction = {ef_construction});
    CREATE INDEX IF NOT EXISTS pillars_chunks_{column}_lacking
        ON pillars_chunks (tenant, chunk_id) WHERE {column} IS NULL;""")
    return "".join(steps)


async def fill_vectors(
    conn: asyncpg.Connection, model: EmbedderName, vectors: Mapping[uuid.UUID, list[float]]
) -> int:
    """Set `model`'s vector of the chunks in `vectors` that still lack one; return how many
    were set (a chunk deleted or filled meanwhile is left as it is)."""
    if not vectors:
        return 0
    column = vector_column(model)
    rows = await conn.fetch(
        f"UPDATE pillars_chunks c SET {column} = v.vector::vector "
        "FROM unnest($1::uuid[], $2::text[]) AS v(chunk_id, vector) "
        f"WHERE c.chunk_id = v.chunk_id AND c.{column} IS NULL RETURNING c.chunk_id",
        list(vectors),
        [_literal(vector) for vector in vectors.values()],
    )
    return len(rows)


def _literal(vector: list[float]) -> str:
    """Return pgvector's text form of `vector` (an array of vectors has no binary codec)."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32)) + "]"


class PgBackfill:
    """The chunks that lack a model's vector, tenant by tenant, and filling them in."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def tenants(self, model: EmbedderName) -> dict[str, int]:
        """Return each tenant with chunks lacking `model`'s vector, and how many.

        Counted as the login user (the tables' owner, which the tenant policy does not
        bind): only it can see which tenants there are; the chunks are then read and
        written under each tenant's policy.
        """
        column = vector_column(model)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL ROLE NONE")
            rows = await conn.fetch(
                f"SELECT tenant, count(*) AS lacking FROM pillars_chunks "
                f"WHERE {column} IS NULL GROUP BY tenant ORDER BY tenant"
            )
        return {row["tenant"]: row["lacking"] for row in rows}

    async def lacking(
        self, tenant: str, model: EmbedderName, limit: int
    ) -> list[tuple[uuid.UUID, str]]:
        """Return up to `limit` of `tenant`'s chunks (id, text) lacking `model`'s vector."""
        column = vector_column(model)
        async with tenant_transaction(self._pool, tenant) as conn:
            rows = await conn.fetch(
                f"SELECT chunk_id, text FROM pillars_chunks WHERE tenant = $1 "
                f"AND {column} IS NULL ORDER BY chunk_id LIMIT $2",
                tenant,
                limit,
            )
        return [(row["chunk_id"], row["text"]) for row in rows]

    async def fill(
        self, tenant: str, model: EmbedderName, vectors: Mapping[uuid.UUID, list[float]]
    ) -> int:
        """Set `model`'s vectors of `tenant`'s chunks that still lack one; return how many."""
        async with tenant_transaction(self._pool, tenant) as conn:
            return await fill_vectors(conn, model, vectors)

    @asynccontextmanager
    async def claim(self, name: str) -> AsyncIterator[bool]:
        """Hold the advisory lock `name` for the block if no other session holds it (a
        transaction's lock on a connection of its own: let go however the block ends)."""
        async with self._pool.acquire() as conn, conn.transaction():
            yield bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", name))

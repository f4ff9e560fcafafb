"""The knowledge index in Postgres: chunks with vectors under an HNSW cosine index."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import numpy as np

from services.embedding.ports import VersionApplied
from shared.contracts.events import DocumentChunked
from shared.kit.db import apply_schema
from shared.kit.db_tenancy import grants_ddl, tenant_policy_ddl, tenant_transaction

__all__ = ["PgChunkStore", "schema_ddl"]


def schema_ddl(dimension: int, m: int, ef_construction: int, build_memory: str = "1GB") -> str:
    """Return the DDL of the index tables, sized for `dimension`-long vectors."""
    return f"""
    SET LOCAL maintenance_work_mem = '{build_memory}';
    CREATE TABLE IF NOT EXISTS pillars_documents (
        tenant text NOT NULL,
        document_id text NOT NULL,
        version bigint NOT NULL,
        deleted boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, document_id)
    );
    CREATE TABLE IF NOT EXISTS pillars_chunks (
        chunk_id uuid PRIMARY KEY,
        tenant text NOT NULL,
        document_id text NOT NULL,
        version bigint NOT NULL,
        chunk_index int NOT NULL,
        title text NOT NULL DEFAULT '',
        source text NOT NULL DEFAULT '',
        text text NOT NULL,
        embedding vector({dimension}) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX IF NOT EXISTS pillars_chunks_document
        ON pillars_chunks (tenant, document_id);
    CREATE INDEX IF NOT EXISTS pillars_chunks_embedding_hnsw
        ON pillars_chunks USING hnsw (embedding vector_cosine_ops)
        WITH (m = {m}, ef_construction = {ef_construction});
    {tenant_policy_ddl("pillars_documents", "pillars_chunks")}
    {grants_ddl("SELECT, INSERT, UPDATE, DELETE", _TABLES, ["embedding"])}
    {grants_ddl("SELECT", ["pillars_chunks"], ["inference"])}
    """


_TABLES = ("pillars_documents", "pillars_chunks")


class PgChunkStore:
    """ChunkStore on asyncpg + pgvector; every version change is one transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(
        self, dimension: int, m: int, ef_construction: int, build_memory: str = "1GB"
    ) -> None:
        """Create the tables and the HNSW index if they do not exist."""
        ddl = schema_ddl(dimension, m, ef_construction, build_memory)
        await apply_schema(self._pool, "embedding", ddl)

    async def known_chunk_ids(self, doc: DocumentChunked) -> set[uuid.UUID]:
        """Return which of `doc`'s chunk ids are already indexed."""
        async with tenant_transaction(self._pool, doc.tenant) as conn:
            rows = await conn.fetch(
                "SELECT chunk_id FROM pillars_chunks WHERE chunk_id = ANY($1::uuid[])",
                [c.chunk_id for c in doc.chunks],
            )
        return {row["chunk_id"] for row in rows}

    async def apply_version(
        self, doc: DocumentChunked, vectors: dict[uuid.UUID, list[float]]
    ) -> VersionApplied:
        """Replace the document's chunks by this version's, unless a newer version is live."""
        async with tenant_transaction(self._pool, doc.tenant) as conn:
            live = await conn.fetchval(
                "SELECT version FROM pillars_documents WHERE tenant = $1 AND document_id = $2 "
                "FOR UPDATE",
                doc.tenant,
                doc.document_id,
            )
            if live is not None and live > doc.version:
                return VersionApplied(stale=True, written=0, removed=0)
            await conn.execute(
                "INSERT INTO pillars_documents (tenant, document_id, version, deleted) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, document_id) DO UPDATE "
                "SET version = EXCLUDED.version, deleted = EXCLUDED.deleted, updated_at = now()",
                doc.tenant,
                doc.document_id,
                doc.version,
                doc.deleted,
            )
            keep = [c.chunk_id for c in doc.chunks]
            removed = await conn.fetch(
                "DELETE FROM pillars_chunks WHERE tenant = $1 AND document_id = $2 "
                "AND NOT (chunk_id = ANY($3::uuid[])) RETURNING chunk_id",
                doc.tenant,
                doc.document_id,
                keep,
            )
            new_rows = [
                (
                    c.chunk_id,
                    doc.tenant,
                    doc.document_id,
                    doc.version,
                    c.index,
                    doc.title,
                    doc.source,
                    c.text,
                    np.asarray(vectors[c.chunk_id], dtype=np.float32),
                )
                for c in doc.chunks
                if c.chunk_id in vectors
            ]
            written = await _copy_upsert(conn, new_rows) if new_rows else 0
            return VersionApplied(stale=False, written=written, removed=len(removed))


async def _copy_upsert(conn: asyncpg.Connection, rows: Sequence[tuple[object, ...]]) -> int:
    """COPY rows into a session-local staging table, then insert the new ones; return how many."""
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS pillars_chunks_incoming "
        "(LIKE pillars_chunks INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table("pillars_chunks_incoming", records=rows, columns=_COPY_COLUMNS)
    inserted = await conn.fetch(
        "INSERT INTO pillars_chunks SELECT * FROM pillars_chunks_incoming "
        "ON CONFLICT (chunk_id) DO NOTHING RETURNING chunk_id"
    )
    return len(inserted)


_COPY_COLUMNS = (
    "chunk_id",
    "tenant",
    "document_id",
    "version",
    "chunk_index",
    "title",
    "source",
    "text",
    "embedding",
)

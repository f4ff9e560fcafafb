"""The knowledge index in Postgres: chunks with vectors under an HNSW cosine index and their
lexemes under a GIN index, in one table, so one write keeps both sides in step (and the
lexicon of the lexemes' counts, kept by triggers in the same transaction: pg_lexicon)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import asyncpg
import numpy as np

from services.embedding.adapters.pg_lexicon import LEXICON, lexicon_ddl
from services.embedding.adapters.pg_secondary import fill_vectors, secondary_ddl
from services.embedding.ports import VersionApplied
from shared.contracts.embedders import PRIMARY, EmbedderName, vector_column
from shared.contracts.events import DocumentChunked
from shared.kit.db import apply_schema
from shared.kit.db_tenancy import grants_ddl, tenant_policy_ddl, tenant_transaction

__all__ = ["PgChunkStore", "TextSearchConfigError", "schema_ddl"]

# The text search configuration of a tenant no setting names: no stemming, no stop words,
# so it is right (if not the best) for every language and script.
FALLBACK_TEXT_CONFIG = "simple"


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
    -- The lexical side (added to an index built before it: the table is rewritten once).
    ALTER TABLE pillars_chunks
        ADD COLUMN IF NOT EXISTS text_config regconfig NOT NULL DEFAULT 'simple';
    ALTER TABLE pillars_chunks ADD COLUMN IF NOT EXISTS lexemes tsvector
        GENERATED ALWAYS AS (to_tsvector(text_config, text)) STORED;
    CREATE INDEX IF NOT EXISTS pillars_chunks_lexemes_gin
        ON pillars_chunks USING gin (lexemes);
    CREATE INDEX IF NOT EXISTS pillars_chunks_document
        ON pillars_chunks (tenant, document_id);
    CREATE INDEX IF NOT EXISTS pillars_chunks_embedding_hnsw
        ON pillars_chunks USING hnsw (embedding vector_cosine_ops)
        WITH (m = {m}, ef_construction = {ef_construction});
    {secondary_ddl(m, ef_construction)}
    {lexicon_ddl()}
    {tenant_policy_ddl(*_TABLES)}
    {grants_ddl("SELECT, INSERT, UPDATE, DELETE", _TABLES, ["embedding"])}
    {grants_ddl("SELECT", ["pillars_chunks", LEXICON], ["inference"])}
    """


_TABLES = ("pillars_documents", "pillars_chunks", LEXICON)


class TextSearchConfigError(ValueError):
    """A tenant's text search configuration is not one Postgres knows."""


class PgChunkStore:
    """ChunkStore on asyncpg + pgvector; every version change is one transaction.

    `text_configs` maps a tenant to its Postgres text search configuration (`english`,
    `german`...); other tenants get `default_text_config`.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        text_configs: Mapping[str, str] | None = None,
        default_text_config: str = FALLBACK_TEXT_CONFIG,
    ) -> None:
        self._pool = pool
        self._text_configs = dict(text_configs or {})
        self._default_text_config = default_text_config

    def text_config(self, tenant: str) -> str:
        """Return the text search configuration `tenant`'s chunks are indexed with."""
        return self._text_configs.get(tenant, self._default_text_config)

    async def create_schema(
        self, dimension: int, m: int, ef_construction: int, build_memory: str = "1GB"
    ) -> None:
        """Create the tables and the HNSW index if they do not exist."""
        ddl = schema_ddl(dimension, m, ef_construction, build_memory)
        await apply_schema(self._pool, "embedding", ddl)
        configs = sorted({self._default_text_config, *self._text_configs.values()})
        known = await self._pool.fetch(
            "SELECT cfgname FROM pg_ts_config WHERE cfgname = ANY($1::text[])", configs
        )
        unknown = sorted(set(configs) - {row["cfgname"] for row in known})
        if unknown:
            raise TextSearchConfigError(
                f"unknown text search configuration(s) {unknown} in PILLARS_TEXT_SEARCH_CONFIGS "
                f"or PILLARS_TEXT_SEARCH_DEFAULT: use one of `SELECT cfgname FROM pg_ts_config` "
                f"(e.g. english, german, {FALLBACK_TEXT_CONFIG})"
            )

    async def known_chunk_ids(
        self, doc: DocumentChunked, model: EmbedderName = PRIMARY
    ) -> set[uuid.UUID]:
        """Return which of `doc`'s chunk ids are already indexed with `model`'s vector."""
        async with tenant_transaction(self._pool, doc.tenant) as conn:
            rows = await conn.fetch(
                "SELECT chunk_id FROM pillars_chunks WHERE chunk_id = ANY($1::uuid[]) "
                f"AND {vector_column(model)} IS NOT NULL",
                [c.chunk_id for c in doc.chunks],
            )
        return {row["chunk_id"] for row in rows}

    async def apply_version(
        self,
        doc: DocumentChunked,
        vectors: dict[uuid.UUID, list[float]],
        secondary: Mapping[EmbedderName, Mapping[uuid.UUID, list[float]]] | None = None,
    ) -> VersionApplied:
        """Replace the document's chunks by this version's, unless a newer version is live;
        `secondary` models' vectors fill the kept chunks that lack them."""
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
            text_config = self.text_config(doc.tenant)
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
                    text_config,
                )
                for c in doc.chunks
                if c.chunk_id in vectors
            ]
            written = await _copy_upsert(conn, new_rows) if new_rows else 0
            keep_set = set(keep)
            for model, by_chunk in (secondary or {}).items():
                kept = {cid: v for cid, v in by_chunk.items() if cid in keep_set}
                await fill_vectors(conn, model, kept)
            return VersionApplied(stale=False, written=written, removed=len(removed))


async def _copy_upsert(conn: asyncpg.Connection, rows: Sequence[tuple[object, ...]]) -> int:
    """COPY rows into a session-local staging table, then insert the new ones; return how many.

    The lexemes are generated by the insert itself, from the same text, in the same
    transaction: a chunk is never searchable one way and not the other.
    """
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS pillars_chunks_incoming "
        f"({_STAGING_COLUMNS}) ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table("pillars_chunks_incoming", records=rows, columns=_COPY_COLUMNS)
    columns = ", ".join(_COPY_COLUMNS)
    values = columns.replace("text_config", "text_config::regconfig")
    inserted = await conn.fetch(
        f"INSERT INTO pillars_chunks ({columns}) SELECT {values} FROM pillars_chunks_incoming "
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
    "text_config",
)
# The staging table holds what COPY writes (the vector's width is checked on insert; the
# configuration's name is cast on insert, since COPY has no binary form of regconfig).
_STAGING_COLUMNS = (
    "chunk_id uuid, tenant text, document_id text, version bigint, chunk_index int, "
    "title text, source text, text text, embedding vector, text_config text"
)

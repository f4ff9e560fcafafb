"""The model registry in Postgres: one row per model version."""

from __future__ import annotations

import asyncio
import json

import asyncpg

from shared.kit.db import apply_schema
from shared.kit.db_tenancy import grants_ddl
from shared.models.registry import ModelRecord, Stage, with_sha256

__all__ = ["ModelNotFound", "PgModelRegistry"]

DDL = """
CREATE TABLE IF NOT EXISTS inference_models (
    name text NOT NULL,
    version integer NOT NULL,
    artifact text NOT NULL,
    format text NOT NULL,
    licence text,
    training_data text NOT NULL,
    metrics jsonb NOT NULL DEFAULT '{}',
    labels jsonb NOT NULL DEFAULT '[]',
    stage text NOT NULL DEFAULT 'candidate'
        CHECK (stage IN ('candidate', 'production', 'archived')),
    created_at timestamptz NOT NULL DEFAULT now(),
    sha256 text,
    PRIMARY KEY (name, version)
);
-- Tables made before admission checked digests; their rows keep NULL and are refused.
ALTER TABLE inference_models ADD COLUMN IF NOT EXISTS sha256 text;
ALTER TABLE inference_models ADD COLUMN IF NOT EXISTS signature text;
CREATE UNIQUE INDEX IF NOT EXISTS inference_models_one_production
    ON inference_models (name) WHERE stage = 'production';
""" + "\n".join(
    [
        grants_ddl("SELECT", ["inference_models"], ["inference"]),
        grants_ddl("SELECT, INSERT, UPDATE", ["inference_models"], ["trainer", "evaluator"]),
    ]
)


class ModelNotFound(LookupError):  # noqa: N818 - it names the outcome
    """No such model version (or no production version)."""


def _record(row: asyncpg.Record) -> ModelRecord:
    values = dict(row)
    return ModelRecord(
        **values
        | {
            "metrics": json.loads(values["metrics"]),
            "labels": tuple(json.loads(values["labels"])),
        }
    )


class PgModelRegistry:
    """ModelRegistry on Postgres; versions number from 1 per name."""

    def __init__(self, pool: asyncpg.Pool, *, signing_key: bytes | None = None) -> None:
        self._pool = pool
        self._signing_key = signing_key

    async def create_schema(self) -> None:
        """Create the registry table if it does not exist."""
        await apply_schema(self._pool, "inference-models", DDL)

    async def register(self, record: ModelRecord) -> ModelRecord:
        """Store a new version of `record.name` (the version given is ignored), with the
        SHA-256 of its artifact (read from the file when the record has none) and, with a
        signing key, its signature."""
        record = await asyncio.to_thread(with_sha256, record, self._signing_key)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", record.name)
            row = await conn.fetchrow(
                "INSERT INTO inference_models (name, version, artifact, format, licence, "
                "training_data, metrics, labels, stage, sha256, signature) VALUES ($1, (SELECT "
                "coalesce(max(version), 0) + 1 FROM inference_models WHERE name = $1), $2, $3, "
                "$4, $5, $6::jsonb, $7::jsonb, 'candidate', $8, $9) RETURNING *",
                record.name,
                record.artifact,
                record.format,
                record.licence,
                record.training_data,
                json.dumps(record.metrics),
                json.dumps(list(record.labels)),
                record.sha256,
                record.signature,
            )
        assert row is not None
        return _record(row)

    async def get(self, name: str, version: int | None = None) -> ModelRecord:
        """Return the version, or the production version when `version` is None."""
        if version is None:
            row = await self._pool.fetchrow(
                "SELECT * FROM inference_models WHERE name = $1 AND stage = 'production'", name
            )
        else:
            row = await self._pool.fetchrow(
                "SELECT * FROM inference_models WHERE name = $1 AND version = $2", name, version
            )
        if row is None:
            which = "a production version" if version is None else f"version {version}"
            raise ModelNotFound(f"model {name!r} has no {which} in the registry")
        return _record(row)

    async def promote(self, name: str, version: int, stage: Stage) -> None:
        """Move a version to `stage`; a new production version archives the old one."""
        async with self._pool.acquire() as conn, conn.transaction():
            if stage == "production":
                await conn.execute(
                    "UPDATE inference_models SET stage = 'archived' "
                    "WHERE name = $1 AND stage = 'production' AND version <> $2",
                    name,
                    version,
                )
            updated = await conn.execute(
                "UPDATE inference_models SET stage = $3 WHERE name = $1 AND version = $2",
                name,
                version,
                stage,
            )
        if updated == "UPDATE 0":
            raise ModelNotFound(f"model {name!r} has no version {version} in the registry")

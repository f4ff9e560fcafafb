"""What each training request came to, in Postgres: the ModelRegistered that answered it."""

from __future__ import annotations

import uuid

import asyncpg

from shared.contracts.events import ModelRegistered
from shared.kit.db import apply_schema
from shared.kit.db_tenancy import grants_ddl

__all__ = ["PgTrainingRuns"]

DDL = """
CREATE TABLE IF NOT EXISTS trainer_runs (
    request_id uuid PRIMARY KEY,
    model text NOT NULL,
    version integer,
    answer jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
""" + grants_ddl("SELECT, INSERT", ["trainer_runs"], ["trainer"])


class PgTrainingRuns:
    """TrainingRuns on Postgres, keyed by the TrainingRequested event's id."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the runs table if it does not exist."""
        await apply_schema(self._pool, "trainer", DDL)

    async def find(self, request: uuid.UUID) -> ModelRegistered | None:
        """Return the answer kept for `request`, if any."""
        body = await self._pool.fetchval(
            "SELECT answer::text FROM trainer_runs WHERE request_id = $1", request
        )
        return None if body is None else ModelRegistered.model_validate_json(body)

    async def record(self, registered: ModelRegistered) -> None:
        """Keep the answer to its request; the first answer kept stays."""
        if registered.requested_by is None:
            raise ValueError("a ModelRegistered without requested_by answers no request")
        await self._pool.execute(
            "INSERT INTO trainer_runs (request_id, model, version, answer) "
            "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING",
            registered.requested_by,
            registered.model,
            registered.version,
            registered.model_dump_json(),
        )

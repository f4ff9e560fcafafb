"""The answers inference gave, in Postgres, keyed by tenant and the prediction's event id;
kept `keep_s` seconds (redeliveries come within minutes of the first answer)."""

from __future__ import annotations

import random
import uuid

import asyncpg

from shared.contracts.events import Prediction
from shared.kit.db import apply_schema
from shared.kit.db_tenancy import grants_ddl, tenant_policy_ddl, tenant_transaction

__all__ = ["PgAnswerLedger"]

DDL = (
    """
CREATE TABLE IF NOT EXISTS inference_answers (
    tenant text NOT NULL,
    event_id uuid NOT NULL,
    prediction text NOT NULL,
    answered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, event_id)
);
CREATE INDEX IF NOT EXISTS inference_answers_age ON inference_answers (tenant, answered_at);
"""
    + tenant_policy_ddl("inference_answers")
    + grants_ddl("SELECT, INSERT, UPDATE, DELETE", ["inference_answers"], ["inference"])
)
_PRUNE_ONE_IN = 500  # of `keep` calls also drop the tenant's answers older than `keep_s`


class PgAnswerLedger:
    """AnswerLedger on Postgres: each answer once per (tenant, event id)."""

    def __init__(self, pool: asyncpg.Pool, *, keep_s: float = 86_400.0) -> None:
        self._pool = pool
        self._keep_s = keep_s

    async def create_schema(self) -> None:
        """Create the table, its row-level security and inference's grants."""
        await apply_schema(self._pool, "inference", DDL)

    async def recall(self, tenant: str, event_id: uuid.UUID) -> Prediction | None:
        """Return the answer kept under `event_id`, if one was."""
        async with tenant_transaction(self._pool, tenant) as conn:
            body = await conn.fetchval(
                "SELECT prediction FROM inference_answers WHERE tenant = $1 AND event_id = $2",
                tenant,
                event_id,
            )
        return None if body is None else Prediction.model_validate_json(body)

    async def keep(self, prediction: Prediction) -> Prediction:
        """Keep `prediction` unless one with its event id is kept; return the one kept."""
        async with tenant_transaction(self._pool, prediction.tenant) as conn:
            kept = await conn.fetchval(
                "INSERT INTO inference_answers (tenant, event_id, prediction) "
                "VALUES ($1, $2, $3) ON CONFLICT (tenant, event_id) DO UPDATE "
                "SET tenant = inference_answers.tenant RETURNING prediction",
                prediction.tenant,
                prediction.event_id,
                prediction.model_dump_json(),
            )
            if random.randrange(_PRUNE_ONE_IN) == 0:  # noqa: S311 - not security
                await conn.execute(
                    "DELETE FROM inference_answers WHERE tenant = $1 "
                    "AND answered_at < now() - make_interval(secs => $2)",
                    prediction.tenant,
                    self._keep_s,
                )
        return Prediction.model_validate_json(kept)

"""The feedback service's prediction ledger and review queue in Postgres."""

from __future__ import annotations

import json

import asyncpg

from services.feedback.ports import KnownPrediction
from shared.contracts.events import RetrievedChunk
from shared.kit.db import apply_schema
from shared.kit.db_tenancy import (
    all_tenants_transaction,
    grants_ddl,
    tenant_policy_ddl,
    tenant_transaction,
)

__all__ = ["PgPredictionLedger"]

DDL = (
    """
CREATE TABLE IF NOT EXISTS feedback_predictions (
    tenant text NOT NULL,
    request_id text NOT NULL,
    experiment text NOT NULL,
    variant text NOT NULL,
    answer text NOT NULL,
    occurred_at timestamptz NOT NULL,
    traceparent text,
    PRIMARY KEY (tenant, request_id)
);
ALTER TABLE feedback_predictions ADD COLUMN IF NOT EXISTS query text NOT NULL DEFAULT '';
ALTER TABLE feedback_predictions ADD COLUMN IF NOT EXISTS sources jsonb NOT NULL DEFAULT '[]';
ALTER TABLE feedback_predictions ADD COLUMN IF NOT EXISTS review_reason text;
ALTER TABLE feedback_predictions ADD COLUMN IF NOT EXISTS reviewed_at timestamptz;
ALTER TABLE feedback_predictions ADD COLUMN IF NOT EXISTS label text;
ALTER TABLE feedback_predictions ADD COLUMN IF NOT EXISTS user_id text;
CREATE INDEX IF NOT EXISTS feedback_review_queue ON feedback_predictions (occurred_at)
    WHERE review_reason IS NOT NULL AND reviewed_at IS NULL;
"""
    + tenant_policy_ddl("feedback_predictions")
    + grants_ddl("SELECT, INSERT, UPDATE", ["feedback_predictions"], ["feedback"])
)
_COLUMNS = (
    "tenant, request_id, experiment, variant, answer, occurred_at, traceparent, query, "
    "sources::text AS sources, review_reason, label, user_id"
)


def _known(row: asyncpg.Record) -> KnownPrediction:
    values = dict(row)
    sources = tuple(RetrievedChunk.model_validate(s) for s in json.loads(values.pop("sources")))
    return KnownPrediction(**values, sources=sources)


class PgPredictionLedger:
    """PredictionLedger on Postgres, keyed by tenant and request id."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create (or extend) the ledger table."""
        await apply_schema(self._pool, "feedback", DDL)

    async def remember(self, prediction: KnownPrediction) -> None:
        """Store a prediction once."""
        sources = json.dumps([s.model_dump(mode="json") for s in prediction.sources])
        async with tenant_transaction(self._pool, prediction.tenant) as conn:
            await conn.execute(
                "INSERT INTO feedback_predictions (tenant, request_id, experiment, variant, "
                "answer, occurred_at, traceparent, query, sources, review_reason, label, user_id) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12) "
                "ON CONFLICT DO NOTHING",
                prediction.tenant,
                prediction.request_id,
                prediction.experiment,
                prediction.variant,
                prediction.answer,
                prediction.occurred_at,
                prediction.traceparent,
                prediction.query,
                sources,
                prediction.review_reason,
                prediction.label,
                prediction.user_id,
            )

    async def find(self, tenant: str, request_id: str) -> KnownPrediction | None:
        """Return the stored prediction, if any."""
        async with tenant_transaction(self._pool, tenant) as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM feedback_predictions "
                "WHERE tenant = $1 AND request_id = $2",
                tenant,
                request_id,
            )
        return _known(row) if row else None

    async def review_queue(self, limit: int) -> list[KnownPrediction]:
        """Return queued, unreviewed predictions, oldest first."""
        async with all_tenants_transaction(self._pool) as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM feedback_predictions "
                "WHERE review_reason IS NOT NULL AND reviewed_at IS NULL "
                "ORDER BY occurred_at, tenant, request_id LIMIT $1",
                limit,
            )
        return [_known(row) for row in rows]

    async def mark_reviewed(self, tenant: str, request_id: str) -> None:
        """Take the prediction off the queue (the first verdict's time is kept)."""
        async with tenant_transaction(self._pool, tenant) as conn:
            await conn.execute(
                "UPDATE feedback_predictions SET reviewed_at = coalesce(reviewed_at, now()) "
                "WHERE tenant = $1 AND request_id = $2",
                tenant,
                request_id,
            )

"""The feedback service's prediction ledger in Postgres."""

from __future__ import annotations

import asyncpg

from services.feedback.ports import KnownPrediction
from shared.db import apply_schema

__all__ = ["PgPredictionLedger"]

DDL = """
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
"""


class PgPredictionLedger:
    """PredictionLedger on Postgres, keyed by tenant and request id."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the ledger table if it does not exist."""
        await apply_schema(self._pool, "feedback", DDL)

    async def remember(self, prediction: KnownPrediction) -> None:
        """Store a prediction once."""
        await self._pool.execute(
            "INSERT INTO feedback_predictions VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT DO NOTHING",
            prediction.tenant,
            prediction.request_id,
            prediction.experiment,
            prediction.variant,
            prediction.answer,
            prediction.occurred_at,
            prediction.traceparent,
        )

    async def find(self, tenant: str, request_id: str) -> KnownPrediction | None:
        """Return the stored prediction, if any."""
        row = await self._pool.fetchrow(
            "SELECT * FROM feedback_predictions WHERE tenant = $1 AND request_id = $2",
            tenant,
            request_id,
        )
        return KnownPrediction(**dict(row)) if row else None

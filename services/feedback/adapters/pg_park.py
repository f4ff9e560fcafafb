"""Parked feedback in Postgres: feedback that arrived before its prediction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from shared.contracts.events import Feedback
from shared.kit.db import apply_schema
from shared.kit.db_tenancy import (
    all_tenants_transaction,
    grants_ddl,
    tenant_policy_ddl,
    tenant_transaction,
)

__all__ = ["PgFeedbackPark"]

DDL = (
    """
CREATE TABLE IF NOT EXISTS feedback_parked (
    tenant text NOT NULL,
    feedback_id text NOT NULL,
    request_id text NOT NULL,
    body jsonb NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, feedback_id)
);
CREATE INDEX IF NOT EXISTS feedback_parked_request ON feedback_parked (tenant, request_id);
CREATE INDEX IF NOT EXISTS feedback_parked_time ON feedback_parked (parked_at);
"""
    + tenant_policy_ddl("feedback_parked")
    # UPDATE: expiring locks rows (FOR UPDATE) so replicas expiring at once skip each other.
    + grants_ddl("SELECT, INSERT, UPDATE, DELETE", ["feedback_parked"], ["feedback"])
)
EXPIRE_BATCH = 500


class PgFeedbackPark:
    """FeedbackPark on Postgres, one row per (tenant, feedback id), under the tenant wall."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the table of parked feedback."""
        await apply_schema(self._pool, "feedback", DDL)

    async def park(self, feedback: Feedback) -> None:
        """Keep `feedback` (its first parking time stays)."""
        async with tenant_transaction(self._pool, feedback.tenant) as conn:
            await conn.execute(
                "INSERT INTO feedback_parked (tenant, feedback_id, request_id, body) "
                "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING",
                feedback.tenant,
                feedback.feedback_id,
                feedback.request_id,
                feedback.model_dump_json(),
            )

    async def waiting(self, tenant: str, request_id: str) -> list[Feedback]:
        """Return the parked feedback on the request, oldest first."""
        async with tenant_transaction(self._pool, tenant) as conn:
            rows = await conn.fetch(
                "SELECT body::text FROM feedback_parked WHERE tenant = $1 AND request_id = $2 "
                "ORDER BY parked_at, feedback_id",
                tenant,
                request_id,
            )
        return [Feedback.model_validate_json(row[0]) for row in rows]

    async def release(self, tenant: str, feedback_id: str) -> None:
        """Forget the parked feedback."""
        async with tenant_transaction(self._pool, tenant) as conn:
            await conn.execute(
                "DELETE FROM feedback_parked WHERE tenant = $1 AND feedback_id = $2",
                tenant,
                feedback_id,
            )

    async def expire(self, older_than_s: float, send: Callable[[Feedback], Awaitable[None]]) -> int:
        """Send and forget feedback parked longer than `older_than_s`, a batch at a time;
        rows another replica is expiring are skipped (locked), so none is sent twice."""
        expired = 0
        while True:
            async with all_tenants_transaction(self._pool) as conn:
                rows = await conn.fetch(
                    "SELECT tenant, feedback_id, body::text FROM feedback_parked "
                    "WHERE parked_at < now() - make_interval(secs => $1) "
                    "ORDER BY parked_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                    older_than_s,
                    EXPIRE_BATCH,
                )
                for row in rows:
                    await send(Feedback.model_validate_json(row["body"]))
                if rows:  # only once all were sent: a failed send rolls the batch back
                    await conn.execute(
                        "DELETE FROM feedback_parked WHERE (tenant, feedback_id) IN "
                        "(SELECT * FROM unnest($1::text[], $2::text[]))",
                        [row["tenant"] for row in rows],
                        [row["feedback_id"] for row in rows],
                    )
            expired += len(rows)
            if len(rows) < EXPIRE_BATCH:
                return expired

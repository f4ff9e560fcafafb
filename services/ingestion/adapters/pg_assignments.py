"""Remembered experiment assignments in Postgres: one row per (experiment, unit)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import apply_schema

__all__ = ["PgAssignments"]

DDL = """
CREATE TABLE IF NOT EXISTS experiment_assignments (
    experiment text NOT NULL,
    unit text NOT NULL,
    variant text NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment, unit)
);
"""

RECALL = "SELECT variant FROM experiment_assignments WHERE experiment = $1 AND unit = $2"

# A new unit, or one whose arm is gone. Two replicas may meet the same new unit at once:
# the conflict clause sees the row the other committed and keeps it while it is live,
# so both answer with the one stored arm.
REMEMBER = """
INSERT INTO experiment_assignments AS a (experiment, unit, variant)
VALUES ($1, $2, $3)
ON CONFLICT (experiment, unit) DO UPDATE
    SET variant = CASE WHEN a.variant = ANY($4::text[]) THEN a.variant ELSE EXCLUDED.variant END,
        assigned_at = CASE WHEN a.variant = ANY($4::text[]) THEN a.assigned_at ELSE now() END
RETURNING variant
"""


class PgAssignments:
    """`Assignments` on Postgres."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the assignments table if it does not exist."""
        await apply_schema(self._pool, "experiment-assignments", DDL)

    async def remember(self, experiment: str, unit: str, proposed: str, live: Sequence[str]) -> str:
        """Return the unit's live remembered arm, else remember `proposed` and return it."""
        known: str | None = await self._pool.fetchval(RECALL, experiment, unit)
        if known is not None and known in live:
            return known  # the common case: a returning user, one read
        variant: str = await self._pool.fetchval(REMEMBER, experiment, unit, proposed, list(live))
        return variant

"""Remembered experiment assignments in Postgres: one row per (experiment, unit)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import asyncpg

from shared.kit.db import apply_schema
from shared.kit.db_tenancy import grants_ddl

__all__ = ["PgAssignments"]

DDL = """
CREATE TABLE IF NOT EXISTS experiment_assignments (
    experiment text NOT NULL,
    unit text NOT NULL,
    variant text NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment, unit)
);
""" + grants_ddl("SELECT, INSERT, UPDATE", ["experiment_assignments"], ["ingestion"])

# Keep a live remembered arm, else (a new unit, or its arm is gone) remember the proposed
# one; one round trip. Two replicas meeting the same new unit at once both answer with
# the one arm stored: the conflict clause sees the row the other committed.
REMEMBER = """
INSERT INTO experiment_assignments AS a (experiment, unit, variant)
VALUES ($1, $2, $3)
ON CONFLICT (experiment, unit) DO UPDATE
    SET variant = CASE WHEN a.variant = ANY($4::text[]) THEN a.variant ELSE EXCLUDED.variant END,
        assigned_at = CASE WHEN a.variant = ANY($4::text[]) THEN a.assigned_at ELSE now() END
RETURNING variant
"""


class PgAssignments:
    """`Assignments` on Postgres, with the live arms already read kept in memory.

    A remembered arm never changes while it is live, so the memory cannot go stale: it
    is consulted only when its arm is among the live ones passed in.
    """

    def __init__(self, pool: asyncpg.Pool, *, memory: int = 100_000) -> None:
        self._pool = pool
        self._memory = memory
        self._known: OrderedDict[tuple[str, str], str] = OrderedDict()

    async def create_schema(self) -> None:
        """Create the assignments table if it does not exist."""
        await apply_schema(self._pool, "experiment-assignments", DDL)

    async def remember(self, experiment: str, unit: str, proposed: str, live: Sequence[str]) -> str:
        """Return the unit's live remembered arm, else remember `proposed` and return it."""
        key = (experiment, unit)
        known = self._known.get(key)
        if known is not None and known in live:
            self._known.move_to_end(key)
            return known
        variant: str = await self._pool.fetchval(REMEMBER, experiment, unit, proposed, list(live))
        self._known[key] = variant
        if len(self._known) > self._memory:
            self._known.popitem(last=False)
        return variant

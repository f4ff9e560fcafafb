"""Label rows in Postgres: one per tenant, dataset and request; a later label replaces an
earlier one for the same request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from shared.kit.db import apply_schema
from shared.kit.db_tenancy import grants_ddl, tenant_policy_ddl, tenant_transaction
from shared.labels.snapshot import LabelRow, Snapshot, take_snapshot

__all__ = ["PgLabelStore"]

DDL = (
    """
CREATE TABLE IF NOT EXISTS training_labels (
    tenant text NOT NULL,
    dataset text NOT NULL,
    request_id text NOT NULL,
    text text NOT NULL,
    label text NOT NULL,
    predicted text,
    variant text NOT NULL DEFAULT '',
    user_id text,
    labelled_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, dataset, request_id)
);
CREATE INDEX IF NOT EXISTS training_labels_by_time
    ON training_labels (tenant, dataset, labelled_at);
"""
    + tenant_policy_ddl("training_labels")
    + "\n".join(
        [
            grants_ddl("SELECT, INSERT, UPDATE", ["training_labels"], ["feedback"]),
            grants_ddl("SELECT", ["training_labels"], ["evaluator", "trainer"]),
        ]
    )
)

# The newer label wins; the same label delivered again (same time) writes the same row.
UPSERT = """
INSERT INTO training_labels (tenant, dataset, request_id, text, label, predicted, variant,
    user_id, labelled_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant, dataset, request_id) DO UPDATE SET
    text = EXCLUDED.text, label = EXCLUDED.label, predicted = EXCLUDED.predicted,
    variant = EXCLUDED.variant, user_id = EXCLUDED.user_id, labelled_at = EXCLUDED.labelled_at
WHERE training_labels.labelled_at <= EXCLUDED.labelled_at
"""

_COLUMNS = "tenant, dataset, request_id, text, label, predicted, variant, user_id, labelled_at"


def _values(row: LabelRow) -> tuple[object, ...]:
    return (
        row.tenant,
        row.dataset,
        row.request_id,
        row.text,
        row.label,
        row.predicted,
        row.variant,
        row.user_id,
        row.labelled_at,
    )


class PgLabelStore:
    """Labelled examples per tenant and dataset, and snapshots of them."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the labels table if it does not exist."""
        await apply_schema(self._pool, "labels", DDL)

    async def record(self, row: LabelRow) -> None:
        """Store one label; a newer one for the same request replaces it."""
        async with tenant_transaction(self._pool, row.tenant) as conn:
            await conn.execute(UPSERT, *_values(row))

    async def add_rows(self, rows: Sequence[LabelRow], *, replace: bool = False) -> None:
        """Store many labels at once (a user's file), all or none; with `replace`, they
        become the whole of each (tenant, dataset) they belong to (a file uploaded again)."""
        async with self._pool.acquire() as conn, conn.transaction():
            for tenant in sorted({row.tenant for row in rows}):
                # each tenant's rows under its own tenant, in the one transaction
                await conn.execute("SELECT set_config('pillars.tenant', $1, true)", tenant)
                theirs = [row for row in rows if row.tenant == tenant]
                if replace:
                    for dataset in sorted({row.dataset for row in theirs}):
                        await conn.execute(
                            "DELETE FROM training_labels WHERE tenant = $1 AND dataset = $2",
                            tenant,
                            dataset,
                        )
                await conn.executemany(UPSERT, [_values(row) for row in theirs])

    async def count_since(self, tenant: str, dataset: str, since: datetime | None) -> int:
        """Return how many labels of the dataset were given after `since` (None: ever)."""
        async with tenant_transaction(self._pool, tenant) as conn:
            count = await conn.fetchval(
                "SELECT count(*) FROM training_labels WHERE tenant = $1 AND dataset = $2 "
                "AND ($3::timestamptz IS NULL OR labelled_at > $3)",
                tenant,
                dataset,
                since,
            )
        return int(count or 0)

    async def labels(self, tenant: str, dataset: str) -> dict[str, int]:
        """Return how many rows carry each label in the dataset."""
        async with tenant_transaction(self._pool, tenant) as conn:
            rows = await conn.fetch(
                "SELECT label, count(*) AS n FROM training_labels WHERE tenant = $1 AND "
                "dataset = $2 GROUP BY label ORDER BY label",
                tenant,
                dataset,
            )
        return {row["label"]: int(row["n"]) for row in rows}

    async def snapshot(
        self,
        tenant: str,
        dataset: str,
        until: datetime | None = None,
        max_per_user: int | None = None,
    ) -> Snapshot:
        """Return the dataset's labels up to `until`, at most `max_per_user` of each user."""
        async with tenant_transaction(self._pool, tenant) as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM training_labels WHERE tenant = $1 AND dataset = $2 "
                "AND ($3::timestamptz IS NULL OR labelled_at <= $3) "
                "ORDER BY labelled_at, request_id",
                tenant,
                dataset,
                until,
            )
        found = [LabelRow(**dict(row)) for row in rows]
        return take_snapshot(tenant, dataset, found, until=until, max_per_user=max_per_user)

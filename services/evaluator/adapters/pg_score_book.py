"""Prediction scores and per-arm totals in Postgres."""

from __future__ import annotations

import asyncpg

from services.evaluator.ports import PredictionScore, VariantTotals
from shared.db import apply_schema

__all__ = ["PgScoreBook"]

DDL = """
CREATE TABLE IF NOT EXISTS evaluator_scores (
    tenant text NOT NULL,
    request_id text NOT NULL,
    experiment text NOT NULL,
    variant text NOT NULL,
    retrieval_relevance double precision NOT NULL,
    top_score double precision NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, request_id)
);
CREATE TABLE IF NOT EXISTS evaluator_variant_totals (
    experiment text NOT NULL,
    variant text NOT NULL,
    predictions bigint NOT NULL,
    relevance_sum double precision NOT NULL,
    PRIMARY KEY (experiment, variant)
);
"""


class PgScoreBook:
    """ScoreBook on Postgres: a new score and its arm's totals change in one transaction."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the evaluator's tables if they do not exist."""
        await apply_schema(self._pool, "evaluator", DDL)

    async def record(self, score: PredictionScore) -> VariantTotals:
        """Store `score` once; a replayed prediction leaves the totals as they are."""
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                "INSERT INTO evaluator_scores (tenant, request_id, experiment, variant, "
                "retrieval_relevance, top_score) VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT DO NOTHING RETURNING true",
                score.tenant,
                score.request_id,
                score.experiment,
                score.variant,
                score.retrieval_relevance,
                score.top_score,
            )
            if inserted:
                await conn.execute(
                    "INSERT INTO evaluator_variant_totals AS t VALUES ($1, $2, 1, $3) "
                    "ON CONFLICT (experiment, variant) DO UPDATE SET "
                    "predictions = t.predictions + 1, relevance_sum = t.relevance_sum + $3",
                    score.experiment,
                    score.variant,
                    score.retrieval_relevance,
                )
            row = await conn.fetchrow(
                "SELECT predictions, relevance_sum FROM evaluator_variant_totals "
                "WHERE experiment = $1 AND variant = $2",
                score.experiment,
                score.variant,
            )
        assert row is not None  # the insert above or an earlier one created it
        return VariantTotals(
            predictions=row["predictions"],
            mean_relevance=row["relevance_sum"] / row["predictions"],
        )

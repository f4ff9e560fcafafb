"""Prediction scores, outcomes, A/B state and reports in Postgres."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
import numpy as np
import numpy.typing as npt

from services.evaluator.adapters.pg_arm_samples import fetch_arm_samples
from services.evaluator.adapters.pg_score_tables import DDL
from services.evaluator.ports import ArmSample, OutcomeRecord, PredictionScore, VariantTotals
from shared.contracts.events import DriftReport, Evaluation
from shared.kit.db import apply_schema
from shared.kit.db_tenancy import all_tenants_transaction, tenant_transaction

__all__ = ["PgScoreBook"]


def _columns(score: PredictionScore) -> tuple[object, ...]:
    """Return a score's values in the order both score tables' inserts take them."""
    return (
        score.tenant,
        score.request_id,
        score.experiment,
        score.variant,
        score.retrieval_relevance,
        score.top_score,
        score.groundedness,
        score.latency_ms,
        score.cost_usd,
        score.answer,
        score.occurred_at,
        score.judge_score,
        score.fallback,
        score.serving_ms,
    )


class PgScoreBook:
    """ScoreBook on Postgres: each prediction and each feedback id counts once."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create (or extend) the evaluator's tables."""
        await apply_schema(self._pool, "evaluator", DDL)

    async def record(self, score: PredictionScore) -> VariantTotals:
        """Store `score` once; a replayed prediction leaves the totals as they are."""
        async with tenant_transaction(self._pool, score.tenant) as conn:
            inserted = await conn.fetchval(
                "INSERT INTO evaluator_scores (tenant, request_id, experiment, variant, "
                "retrieval_relevance, top_score, groundedness, latency_ms, cost_usd, answer, "
                "occurred_at, judge_score, fallback, serving_ms) VALUES ($1, $2, $3, $4, $5, $6, "
                "$7, $8, $9, $10, coalesce($11, now()), $12, $13, $14) "
                "ON CONFLICT DO NOTHING RETURNING true",
                *_columns(score),
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

    async def record_shadow(self, score: PredictionScore) -> bool:
        """Store a shadow arm's score once per (tenant, request, arm)."""
        async with tenant_transaction(self._pool, score.tenant) as conn:
            inserted = await conn.fetchval(
                "INSERT INTO evaluator_shadow_scores (tenant, request_id, experiment, variant, "
                "retrieval_relevance, top_score, groundedness, latency_ms, cost_usd, answer, "
                "occurred_at, judge_score, fallback, serving_ms) VALUES ($1, $2, $3, $4, $5, "
                "$6, $7, $8, $9, $10, coalesce($11, now()), $12, $13, $14) "
                "ON CONFLICT DO NOTHING RETURNING true",
                *_columns(score),
            )
        return bool(inserted)

    async def record_outcome(self, outcome: OutcomeRecord) -> bool:
        """Store an outcome once per (tenant, feedback id)."""
        async with tenant_transaction(self._pool, outcome.tenant) as conn:
            inserted = await conn.fetchval(
                "INSERT INTO evaluator_outcomes VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                "ON CONFLICT DO NOTHING RETURNING true",
                outcome.tenant,
                outcome.feedback_id,
                outcome.request_id,
                outcome.experiment,
                outcome.variant,
                outcome.kind,
                outcome.value_number,
                outcome.value_text,
                outcome.verdict,
                outcome.occurred_at,
            )
        return bool(inserted)

    async def arm_samples(self, since: datetime | None) -> list[ArmSample]:
        """Return every arm's sums over the predictions made since `since`."""
        return await fetch_arm_samples(self._pool, since)

    async def previous_p(self, experiment: str, metric: str, control: str, arm: str) -> float:
        """Return the lowest p-value the comparison has had, 1 if none."""
        value = await self._pool.fetchval(
            "SELECT p_value FROM evaluator_ab_state "
            "WHERE experiment = $1 AND metric = $2 AND control = $3 AND arm = $4",
            experiment,
            metric,
            control,
            arm,
        )
        return 1.0 if value is None else float(value)

    async def save_p(self, experiment: str, metric: str, control: str, arm: str, p: float) -> None:
        """Keep the lowest p-value (two replicas racing cannot raise it)."""
        await self._pool.execute(
            "INSERT INTO evaluator_ab_state AS s (experiment, metric, control, arm, p_value) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (experiment, metric, control, arm) "
            "DO UPDATE SET p_value = least(s.p_value, excluded.p_value), updated_at = now()",
            experiment,
            metric,
            control,
            arm,
            p,
        )

    async def record_query(
        self,
        tenant: str,
        request_id: str,
        experiment: str,
        occurred_at: datetime,
        vector: Sequence[float],
    ) -> None:
        """Keep a request's query embedding once."""
        async with tenant_transaction(self._pool, tenant) as conn:
            await conn.execute(
                "INSERT INTO evaluator_queries VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                tenant,
                request_id,
                experiment,
                occurred_at,
                np.asarray(vector, dtype=np.float32),
            )

    async def query_vectors(
        self, experiment: str, since: datetime, until: datetime, limit: int
    ) -> npt.NDArray[np.float64]:
        """Return a random sample of the experiment's query embeddings in [since, until)."""
        async with all_tenants_transaction(self._pool) as conn:
            rows = await conn.fetch(
                "SELECT embedding FROM evaluator_queries WHERE experiment = $1 "
                "AND occurred_at >= $2 AND occurred_at < $3 ORDER BY random() LIMIT $4",
                experiment,
                since,
                until,
                limit,
            )
        if not rows:
            return np.empty((0, 0))
        return np.vstack([np.asarray(r["embedding"].to_numpy(), dtype=np.float64) for r in rows])

    async def category_counts(
        self, experiment: str, what: str, since: datetime, until: datetime
    ) -> dict[str, int]:
        """Count answers (`predictions`) or the latest true label of each (`labels`)."""
        if what == "predictions":
            query = (
                "SELECT answer AS category, count(*) AS n FROM evaluator_scores "
                "WHERE experiment = $1 AND occurred_at >= $2 AND occurred_at < $3 "
                "GROUP BY answer"
            )
        elif what == "labels":
            query = (
                "SELECT category, count(*) AS n FROM (SELECT DISTINCT ON (s.tenant, s.request_id) "
                "o.value_text AS category FROM evaluator_scores s JOIN evaluator_outcomes o "
                "USING (tenant, request_id) WHERE o.kind = 'label' AND s.experiment = $1 "
                "AND s.occurred_at >= $2 AND s.occurred_at < $3 "
                "ORDER BY s.tenant, s.request_id, o.occurred_at DESC) labels GROUP BY category"
            )
        else:
            raise ValueError(f"unknown category {what!r}")
        async with all_tenants_transaction(self._pool) as conn:
            rows = await conn.fetch(query, experiment, since, until)
        return {row["category"]: row["n"] for row in rows}

    async def save_report(self, evaluations: Sequence[Evaluation]) -> None:
        """Append a report's evaluations to the history."""
        await self._pool.executemany(
            "INSERT INTO evaluator_reports (at, kind, experiment, variant, body) "
            "VALUES ($1, $2, $3, $4, $5::jsonb)",
            [
                (e.occurred_at, e.kind, e.experiment, e.variant, e.model_dump_json())
                for e in evaluations
            ],
        )

    async def recent_drift(self, experiment: str, since: datetime) -> list[DriftReport]:
        """Return the drift the reports found for the experiment since `since`, oldest first."""
        rows = await self._pool.fetch(
            "SELECT body::text AS body FROM evaluator_reports WHERE kind = 'drift' "
            "AND experiment = $1 AND at >= $2 ORDER BY at, id",
            experiment,
            since,
        )
        found = [Evaluation.model_validate_json(row["body"]).drift for row in rows]
        return [drift for drift in found if drift is not None]

    async def history(self, since: datetime | None = None) -> list[Evaluation]:
        """Return the reports' evaluations, oldest first (`pillars report` reads these)."""
        rows = await self._pool.fetch(
            "SELECT body::text AS body FROM evaluator_reports "
            "WHERE $1::timestamptz IS NULL OR at >= $1 ORDER BY at, id",
            since,
        )
        return [Evaluation.model_validate_json(row["body"]) for row in rows]

"""Every arm's sums over a window of predictions, as the evaluator's reports read them."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.evaluator.ports import ArmSample
from shared.kit.db_tenancy import all_tenants_transaction

__all__ = ["fetch_arm_samples"]

# The same sums over live arms' scores and shadow arms' (`{table}`).
_SCORES = """
SELECT experiment, variant, count(*) AS predictions,
       sum(retrieval_relevance) AS relevance_sum,
       sum(retrieval_relevance * retrieval_relevance) AS relevance_squares,
       coalesce(sum(groundedness), 0) AS groundedness_sum,
       count(groundedness) AS groundedness_count,
       coalesce(sum(judge_score), 0) AS judge_sum,
       count(judge_score) AS judge_count,
       sum(latency_ms) AS latency_sum, sum(latency_ms * latency_ms) AS latency_squares,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS latency_p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS latency_p95_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS latency_p99_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY serving_ms) AS serving_p99_ms,
       sum(cost_usd) AS cost_usd,
       count(*) FILTER (WHERE fallback) AS fallbacks
FROM {table} WHERE $1::timestamptz IS NULL OR occurred_at >= $1
GROUP BY experiment, variant
"""
# Outcomes count toward the arm and window of their prediction (by prediction time).
_OUTCOMES = """
SELECT s.experiment, s.variant,
       count(DISTINCT (s.tenant, s.request_id)) FILTER (WHERE o.kind = 'click') AS clicked,
       count(DISTINCT (s.tenant, s.request_id)) FILTER (WHERE o.kind = 'conversion') AS converted,
       count(*) FILTER (WHERE o.kind = 'rating') AS ratings,
       coalesce(sum(o.value_number) FILTER (WHERE o.kind = 'rating'), 0) AS rating_sum,
       coalesce(sum(o.value_number * o.value_number) FILTER (WHERE o.kind = 'rating'), 0)
           AS rating_squares,
       count(*) FILTER (WHERE o.kind = 'rating' AND o.value_number >= 4) AS ratings_high,
       count(*) FILTER (WHERE o.kind = 'thumbs') AS thumbs,
       count(*) FILTER (WHERE o.kind = 'thumbs' AND o.value_number = 1) AS thumbs_up,
       count(*) FILTER (WHERE o.kind = 'review') AS reviews,
       count(*) FILTER (WHERE o.kind = 'review' AND o.verdict = 'correct') AS reviews_correct
FROM evaluator_scores s JOIN evaluator_outcomes o USING (tenant, request_id)
WHERE $1::timestamptz IS NULL OR s.occurred_at >= $1
GROUP BY s.experiment, s.variant
"""
# The latest label of each prediction against what it answered: a true label is about the
# request, so it scores a shadow arm's answer to the same request too.
_LABELS = """
SELECT experiment, variant, truth, predicted, count(*) AS n FROM (
    SELECT DISTINCT ON (s.tenant, s.request_id, s.variant)
           s.experiment, s.variant, o.value_text AS truth, s.answer AS predicted
    FROM {table} s JOIN evaluator_outcomes o USING (tenant, request_id)
    WHERE o.kind = 'label' AND ($1::timestamptz IS NULL OR s.occurred_at >= $1)
    ORDER BY s.tenant, s.request_id, s.variant, o.occurred_at DESC, o.feedback_id DESC
) labelled GROUP BY experiment, variant, truth, predicted
"""
_TABLES = (("evaluator_scores", False), ("evaluator_shadow_scores", True))


async def fetch_arm_samples(pool: asyncpg.Pool, since: datetime | None) -> list[ArmSample]:
    """Return every arm's sums over the predictions made since `since` (None: all), its
    outcomes and its labels counted by prediction time; shadow arms' after the live ones,
    with their labels only (clicks and ratings are about the answer the user saw)."""
    samples = []
    async with all_tenants_transaction(pool) as conn:  # sums per arm over every tenant
        outcomes = {(r["experiment"], r["variant"]): r for r in await conn.fetch(_OUTCOMES, since)}
        for table, shadow in _TABLES:
            scores = await conn.fetch(_SCORES.format(table=table), since)
            labels: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
            for row in await conn.fetch(_LABELS.format(table=table), since):
                pairs = labels.setdefault((row["experiment"], row["variant"]), {})
                pairs[(row["truth"], row["predicted"])] = row["n"]
            for row in scores:
                arm = (row["experiment"], row["variant"])
                fed = dict(outcomes[arm]) if arm in outcomes and not shadow else {}
                fed.pop("experiment", None)
                fed.pop("variant", None)
                samples.append(
                    ArmSample(
                        **{k: v for k, v in dict(row).items() if v is not None},
                        **fed,
                        label_pairs=labels.get(arm, {}),
                        shadow=shadow,
                    )
                )
    return samples

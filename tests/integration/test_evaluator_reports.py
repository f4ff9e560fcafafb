"""The evaluator's reports on the real Postgres: arm metrics over windows, A/B decisions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from services.evaluator.adapters.pg_score_book import PgScoreBook
from services.evaluator.handlers import evaluate_prediction, record_outcome
from services.evaluator.reporting import report
from services.evaluator.sequential import SequentialTest
from shared.contracts.events import Evaluation, Outcome, ReviewVerdict, utcnow
from tests.unit.evaluator.test_handlers import prediction

pytestmark = pytest.mark.evaluation

LABELS = ("fresh", "rotten", "plot")


def outcome(p_tenant: str, request_id: str, experiment: str, variant: str, kind: str, **extra):  # type: ignore[no-untyped-def]
    return Outcome(
        tenant=p_tenant,
        feedback_id=extra.pop("feedback_id", f"{kind}-{request_id}"),
        request_id=request_id,
        kind=kind,
        experiment=experiment,
        variant=variant,
        answer="",
        prediction_occurred_at=utcnow(),
        **extra,
    )


async def test_arm_metrics_and_ab_decisions_from_predictions_and_feedback(
    pool: asyncpg.Pool, tenant: str
) -> None:
    book = PgScoreBook(pool)
    await book.create_schema()
    experiment = f"exp-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(7)
    now = utcnow()
    truth: dict[str, list[str]] = {"control": [], "treatment": []}
    guessed: dict[str, list[str]] = {"control": [], "treatment": []}
    latencies: dict[str, list[float]] = {"control": [], "treatment": []}
    clicks = {"control": 0, "treatment": 0}
    for variant, click_rate, right_rate in (("control", 0.1, 0.6), ("treatment", 0.4, 0.8)):
        for i in range(400):
            rid = f"{variant}-{i}"
            label = LABELS[i % 3]
            answer = label if rng.random() < right_rate else LABELS[(i + 1) % 3]
            latency = float(rng.uniform(20, 200))
            made = now - timedelta(seconds=10)
            p = prediction(rid, [0.6]).model_copy(
                update={
                    "tenant": tenant,
                    "experiment": experiment,
                    "variant": variant,
                    "answer": answer,
                    "occurred_at": made,
                    "request_occurred_at": made - timedelta(milliseconds=latency),
                }
            )
            await evaluate_prediction(p, book=book)
            latencies[variant].append(latency)
            if rng.random() < click_rate:
                clicks[variant] += 1
                for _ in range(2):  # the same feedback twice counts once
                    await record_outcome(
                        outcome(tenant, rid, experiment, variant, "click"), book=book
                    )
            await record_outcome(
                outcome(tenant, rid, experiment, variant, "label", value=label), book=book
            )
            truth[variant].append(label)
            guessed[variant].append(answer)
        await record_outcome(
            outcome(tenant, f"{variant}-0", experiment, variant, "rating", value=5), book=book
        )
        await record_outcome(
            outcome(tenant, f"{variant}-1", experiment, variant, "rating", value=2), book=book
        )
        verdict = ReviewVerdict(verdict="correct", relevance=4)
        await record_outcome(
            outcome(tenant, f"{variant}-2", experiment, variant, "review", review=verdict),
            book=book,
        )
    # An old prediction: in the cumulative window, not in the sliding one.
    old = prediction("old", [0.6]).model_copy(
        update={
            "tenant": tenant,
            "experiment": experiment,
            "variant": "control",
            "occurred_at": now - timedelta(hours=3),
            "request_occurred_at": now - timedelta(hours=3),
        }
    )
    await evaluate_prediction(old, book=book)

    rule = SequentialTest(min_samples=100)
    evaluations = await report(
        book=book, tenant="platform", window_s=3600, test=rule, clock=lambda: now
    )
    mine = [e for e in evaluations if e.experiment == experiment]
    metrics = {(e.variant, e.metrics.window): e.metrics for e in mine if e.metrics is not None}
    assert metrics[("control", "cumulative")].predictions == 401
    for variant in ("control", "treatment"):
        sliding = metrics[(variant, "sliding")]
        assert sliding.predictions == 400
        assert sliding.ctr == pytest.approx(clicks[variant] / 400)
        assert sliding.accuracy == accuracy_score(truth[variant], guessed[variant])
        assert sliding.macro_f1 == f1_score(
            truth[variant], guessed[variant], average="macro", zero_division=0
        )
        assert sliding.labelled == 400
        assert sliding.latency_p50_ms == pytest.approx(
            np.percentile(latencies[variant], 50), abs=0.01
        )
        assert sliding.latency_p99_ms == pytest.approx(
            np.percentile(latencies[variant], 99), abs=0.01
        )
        assert (sliding.ratings, sliding.mean_rating, sliding.csat) == (2, 3.5, 0.5)
        assert (sliding.reviews, sliding.review_correct_rate) == (1, 1.0)
        assert sliding.mean_groundedness == 0.0  # a label answer: no word of it in the passage
    verdicts = {e.verdict.metric: e.verdict for e in mine if e.verdict is not None}
    assert verdicts["ctr"].decision == "winner"
    assert verdicts["ctr"].winner == "treatment"
    assert verdicts["ctr"].ci_low > 0
    assert verdicts["accuracy"].winner == "treatment"
    assert verdicts["mean_rating"].decision == "keep running"  # 2 ratings per arm
    # The p-value is remembered, so it can only fall at the next look.
    assert (
        await book.previous_p(experiment, "ctr", "control", "treatment") == verdicts["ctr"].p_value
    )
    history = [
        e for e in await book.history(now - timedelta(seconds=1)) if e.experiment == experiment
    ]
    assert {e.kind for e in history} == {"arm_metrics", "ab_decision"}
    assert all(isinstance(e, Evaluation) for e in history)


async def test_drift_between_the_last_window_and_the_one_before(
    pool: asyncpg.Pool, tenant: str
) -> None:
    book = PgScoreBook(pool)
    await book.create_schema()
    experiment = f"drift-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(1)
    topic, other = rng.standard_normal(24), rng.standard_normal(24)
    now = utcnow()
    window = timedelta(hours=1)
    for i in range(60):
        for age, centre, answer in (
            (window * 1.5, topic, "ham"),
            (window * 0.5, topic + other, "spam"),
        ):
            made = now - age + timedelta(seconds=i)
            rid = f"{answer}-{i}"
            vector = centre + 0.8 * rng.standard_normal(24)
            await book.record_query(
                tenant, rid, experiment, made, (vector / np.linalg.norm(vector)).tolist()
            )
            p = prediction(rid, [0.6]).model_copy(
                update={
                    "tenant": tenant,
                    "experiment": experiment,
                    "variant": "control",
                    "answer": answer if i % 4 else "ham",
                    "occurred_at": made,
                    "request_occurred_at": made,
                }
            )
            await evaluate_prediction(p, book=book)

    evaluations = await report(
        book=book, tenant="platform", window_s=3600, test=SequentialTest(), clock=lambda: now
    )
    drift = {e.drift.signal: e.drift for e in evaluations if e.experiment == experiment and e.drift}
    queries = drift["query_embeddings"]
    assert (queries.reference_n, queries.current_n) == (60, 60)
    assert queries.severity in ("medium", "high")
    assert queries.p_value is not None
    assert queries.p_value < 0.01
    answers = drift["predictions"]  # all ham before; 75% spam now
    assert answers.severity == "high"
    assert "labels" not in drift  # no labels came

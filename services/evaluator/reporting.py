"""The evaluator's periodic report: every arm's metrics, the A/B decisions and drift.

Per arm, over the cumulative window and a sliding one: classification metrics from labels,
CTR, conversion, ratings and CSAT, thumbs, review verdicts, latency percentiles and cost.
Per experiment and metric: the always-valid A/B decision of every arm against the control.
One replica (the leader) reports at a time.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.evaluator.classification import Confusion, classification_metrics
from services.evaluator.drift import category_drift, embedding_drift
from services.evaluator.ports import ArmSample, Leadership, ScoreBook
from services.evaluator.sequential import ABDecision, ArmSummary, SequentialTest
from shared.contracts.events import ABVerdict, ArmMetrics, DriftReport, Evaluation, utcnow

__all__ = [
    "AB_METRICS",
    "REPORT_TENANT",
    "ab_verdicts",
    "arm_metrics",
    "drift_reports",
    "report",
    "report_if_leading",
    "verdict_of",
]

# Reports cover an experiment across tenants; they are published under this tenant.
REPORT_TENANT = "platform"
CONTROL = "control"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def arm_metrics(sample: ArmSample, window_s: float | None) -> ArmMetrics:
    """Return an arm's metrics from its window's sums (`window_s` None: cumulative)."""
    n = sample.predictions
    confusion = Confusion()
    for (true, predicted), count in sample.label_pairs.items():
        confusion.add(true, predicted, count)
    labelled = classification_metrics(confusion)
    has_labels = labelled.count > 0
    return ArmMetrics(
        window="cumulative" if window_s is None else "sliding",
        window_s=window_s,
        predictions=n,
        mean_relevance=sample.relevance_sum / n if n else None,
        mean_groundedness=(
            sample.groundedness_sum / sample.groundedness_count
            if sample.groundedness_count
            else None
        ),
        mean_judge_score=(sample.judge_sum / sample.judge_count if sample.judge_count else None),
        judged=sample.judge_count,
        latency_p50_ms=sample.latency_p50_ms,
        latency_p95_ms=sample.latency_p95_ms,
        latency_p99_ms=sample.latency_p99_ms,
        cost_usd=sample.cost_usd,
        ctr=_share(sample.clicked, n),
        conversion_rate=_share(sample.converted, n),
        ratings=sample.ratings,
        mean_rating=sample.rating_sum / sample.ratings if sample.ratings else None,
        csat=_share(sample.ratings_high, sample.ratings),
        thumbs_up_rate=_share(sample.thumbs_up, sample.thumbs),
        reviews=sample.reviews,
        review_correct_rate=_share(sample.reviews_correct, sample.reviews),
        labelled=labelled.count,
        accuracy=labelled.accuracy if has_labels else None,
        macro_precision=labelled.macro_precision if has_labels else None,
        macro_recall=labelled.macro_recall if has_labels else None,
        macro_f1=labelled.macro_f1 if has_labels else None,
        per_class={
            label: {"precision": m.precision, "recall": m.recall, "f1": m.f1, "support": m.support}
            for label, m in labelled.per_class.items()
        },
        confusion_labels=labelled.labels,
        confusion_matrix=labelled.matrix,
    )


# metric -> (how to summarise an arm for it, whether higher is better)
AB_METRICS: dict[str, tuple[Callable[[ArmSample], ArmSummary], bool]] = {
    "ctr": (lambda s: ArmSummary.of_rate(s.variant, s.predictions, s.clicked), True),
    "conversion_rate": (lambda s: ArmSummary.of_rate(s.variant, s.predictions, s.converted), True),
    "mean_rating": (
        lambda s: ArmSummary.of_moments(s.variant, s.ratings, s.rating_sum, s.rating_squares),
        True,
    ),
    "accuracy": (
        lambda s: ArmSummary.of_rate(
            s.variant,
            sum(s.label_pairs.values()),
            sum(c for (t, p), c in s.label_pairs.items() if t == p),
        ),
        True,
    ),
    "retrieval_relevance": (
        lambda s: ArmSummary.of_moments(
            s.variant, s.predictions, s.relevance_sum, s.relevance_squares
        ),
        True,
    ),
    "latency_ms": (
        lambda s: ArmSummary.of_moments(s.variant, s.predictions, s.latency_sum, s.latency_squares),
        False,
    ),
}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def verdict_of(decision: ABDecision) -> ABVerdict:
    """Return the decision as the evaluations carry it (unbounded interval ends as None)."""
    return ABVerdict(
        metric=decision.metric,
        control=decision.control,
        treatment=decision.treatment,
        effect=decision.effect,
        relative_effect=decision.relative_effect,
        ci_low=_finite(decision.ci_low),
        ci_high=_finite(decision.ci_high),
        p_value=decision.p_value,
        decision=decision.outcome,
        winner=decision.winner,
        n_control=decision.n_control,
        n_treatment=decision.n_treatment,
    )


def _control(arms: Sequence[ArmSample]) -> ArmSample:
    named = [a for a in arms if a.variant == CONTROL]
    return named[0] if named else min(arms, key=lambda a: a.variant)


async def ab_verdicts(
    samples: Sequence[ArmSample], *, test: SequentialTest, book: ScoreBook
) -> list[tuple[str, ABVerdict]]:
    """Return, per experiment and metric, each arm's decision against the control (the arm
    named `control`, else the first by name); p-values persist so they only fall."""
    by_experiment: dict[str, list[ArmSample]] = {}
    # A shadow arm's users saw the live arm's answer: it has no CTR or rating of its own.
    for sample in (s for s in samples if not s.shadow):
        by_experiment.setdefault(sample.experiment, []).append(sample)
    verdicts: list[tuple[str, ABVerdict]] = []
    for experiment, arms in sorted(by_experiment.items()):
        if len(arms) < 2:
            continue
        control = _control(arms)
        for arm in sorted(arms, key=lambda a: a.variant):
            if arm is control:
                continue
            for metric, (summarise, higher_is_better) in AB_METRICS.items():
                a, b = summarise(control), summarise(arm)
                if a.n == 0 and b.n == 0:
                    continue
                previous = await book.previous_p(experiment, metric, control.variant, arm.variant)
                decision = test.decide(
                    metric, a, b, previous_p=previous, higher_is_better=higher_is_better
                )
                await book.save_p(
                    experiment, metric, control.variant, arm.variant, decision.p_value
                )
                verdicts.append((experiment, verdict_of(decision)))
    return verdicts


# Categorical drift is only meaningful for classifier-like answers, not free text.
MAX_CATEGORIES = 50
DRIFT_SAMPLE = 300


async def drift_reports(
    experiments: Sequence[str], *, book: ScoreBook, now: datetime, window_s: float
) -> list[tuple[str, DriftReport]]:
    """Return, per experiment, how the last window differs from the one before it: query
    embeddings, predicted answers (when they are categories) and true labels."""
    current = (now - timedelta(seconds=window_s), now)
    reference = (now - timedelta(seconds=2 * window_s), current[0])
    reports: list[tuple[str, DriftReport]] = []
    for experiment in experiments:
        found = embedding_drift(
            await book.query_vectors(experiment, *reference, DRIFT_SAMPLE),
            await book.query_vectors(experiment, *current, DRIFT_SAMPLE),
        )
        if found is not None:
            reports.append((experiment, found))
        for what in ("predictions", "labels"):
            before = await book.category_counts(experiment, what, *reference)
            after = await book.category_counts(experiment, what, *current)
            if len(set(before) | set(after)) > MAX_CATEGORIES:
                continue
            shifted = category_drift(what, before, after)
            if shifted is not None:
                reports.append((experiment, shifted))
    return reports


async def report(
    *,
    book: ScoreBook,
    tenant: str,
    window_s: float,
    test: SequentialTest,
    clock: Callable[[], datetime] = utcnow,
) -> list[Evaluation]:
    """Return (and keep) every arm's cumulative and sliding metrics and the A/B verdicts."""
    now = clock()
    cumulative = await book.arm_samples(None)
    sliding = await book.arm_samples(now - timedelta(seconds=window_s))

    def reported(experiment: str, **payload: Any) -> Evaluation:
        return Evaluation(
            occurred_at=now, tenant=tenant, subject=experiment, experiment=experiment, **payload
        )

    evaluations = [
        reported(
            sample.experiment,
            kind="arm_metrics",
            variant=sample.variant,
            metrics=arm_metrics(sample, window),
        )
        for samples, window in ((cumulative, None), (sliding, window_s))
        for sample in samples
    ]
    evaluations += [
        reported(experiment, kind="ab_decision", variant=verdict.treatment, verdict=verdict)
        for experiment, verdict in await ab_verdicts(cumulative, test=test, book=book)
    ]
    experiments = sorted({s.experiment for s in sliding})
    evaluations += [
        reported(experiment, kind="drift", drift=drift)
        for experiment, drift in await drift_reports(
            experiments, book=book, now=now, window_s=window_s
        )
    ]
    await book.save_report(evaluations)
    return evaluations


async def report_if_leading(
    *,
    leadership: Leadership,
    book: ScoreBook,
    test: SequentialTest,
    window_s: float,
    publish: Callable[[Evaluation], Awaitable[None]],
) -> None:
    """Report every arm and publish each evaluation, if this replica is the one reporting."""
    if not await leadership.leading():
        return
    for evaluation in await report(book=book, tenant=REPORT_TENANT, window_s=window_s, test=test):
        await publish(evaluation)

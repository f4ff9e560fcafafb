"""Feedback handlers: remember predictions, join feedback to them as outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from services.feedback.metrics import PARKED
from services.feedback.ports import (
    FeedbackPark,
    KnownPrediction,
    Labels,
    PredictionLedger,
    ReviewPolicy,
)
from shared.buckets import bucket
from shared.contracts.events import Feedback, Outcome, Prediction, derived_id, utcnow
from shared.kit.telemetry import link_current_span
from shared.labels import LabelRow

__all__ = [
    "FEEDBACK_DATASET",
    "SERVICE",
    "expire_parked",
    "find_prediction",
    "join_feedback",
    "label_row",
    "prediction_arrived",
    "record_feedback",
    "remember_prediction",
    "review_reason",
    "settle",
    "settle_parked",
    "true_label",
]

SERVICE = "feedback"
# The dataset of `shared.labels` that feedback's labels go to (a user's file is `file:NAME`).
FEEDBACK_DATASET = "feedback"


def review_reason(prediction: Prediction, policy: ReviewPolicy) -> str | None:
    """Return why the prediction goes to human review, or None if it does not.

    All predictions whose best passage's cosine similarity to the query is below the
    confidence bar go (the same scale whatever the retrieval mode); of the others, a share
    per arm, chosen by a hash of the request so a replay makes the same choice.
    """
    top = max((c for s in prediction.sources if (c := s.cosine) is not None), default=0.0)
    if top < policy.confidence_below:
        return f"low confidence: best passage scores {top:.2f} < {policy.confidence_below:g}"
    arm = f"{prediction.experiment}/{prediction.variant}"
    rate = policy.sample_rates.get(arm, policy.sample_rate)
    if bucket("review", f"{prediction.tenant}/{prediction.request_id}") < rate:
        return f"sampled: {rate:.0%} of {arm}"
    return None


async def remember_prediction(
    prediction: Prediction,
    *,
    ledger: PredictionLedger,
    traceparent: str | None,
    policy: ReviewPolicy | None = None,
) -> None:
    """Keep what joining feedback and reviewing need: arm, query, passages, answer, time,
    the prediction's trace, and whether (why) it goes to review. A refused request's
    prediction (`rejected`) has nothing to judge or review: it is not kept."""
    if prediction.rejected is not None:
        return
    await ledger.remember(
        KnownPrediction(
            tenant=prediction.tenant,
            request_id=prediction.request_id,
            experiment=prediction.experiment,
            variant=prediction.variant,
            answer=prediction.answer,
            occurred_at=prediction.occurred_at,
            traceparent=traceparent,
            query=prediction.query,
            sources=tuple(prediction.sources),
            review_reason=review_reason(prediction, policy) if policy else None,
            label=prediction.label,
            user_id=prediction.user_id,
        )
    )


async def find_prediction(
    feedback: Feedback, *, ledger: PredictionLedger, wait_s: float, poll_s: float = 0.25
) -> KnownPrediction | None:
    """Return the feedback's prediction, waiting up to `wait_s` for it to arrive (None when
    it has not)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while (known := await ledger.find(feedback.tenant, feedback.request_id)) is None:
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(poll_s)
    return known


def join_feedback(
    feedback: Feedback, known: KnownPrediction, *, clock: Callable[[], datetime] = utcnow
) -> Outcome:
    """Return the outcome: the feedback with its prediction's experiment, arm and answer."""
    return feedback.derive(
        Outcome,
        event_id=derived_id(feedback.event_id, "outcome"),
        occurred_at=clock(),
        experiment=known.experiment,
        variant=known.variant,
        answer=known.answer,
        prediction_occurred_at=known.occurred_at,
    )


def true_label(feedback: Feedback, known: KnownPrediction) -> str | None:
    """Return the label `feedback` says is right for its prediction, if it says one.

    `label` names it. A `correction`, or a review judged incorrect with a correction, names
    it, and a review judged correct confirms the prediction's own label, only when a
    classifier answered: a generator's free-text answer, or its correction, is no class.
    """
    if feedback.kind == "label" and isinstance(feedback.value, str):
        return feedback.value.strip() or None
    if known.label is None:
        return None
    if feedback.kind == "correction" and isinstance(feedback.value, str):
        return feedback.value.strip() or None
    if feedback.kind == "review" and feedback.review is not None:
        if feedback.review.verdict == "correct":
            return known.label
        return (feedback.review.correction or "").strip() or None
    return None


def label_row(feedback: Feedback, known: KnownPrediction) -> LabelRow | None:
    """Return the labelled example `feedback` makes of its prediction's query, if any.

    Its time is the feedback's own, so a redelivered feedback writes the same row.
    """
    label = true_label(feedback, known)
    if label is None or not known.query.strip():
        return None
    return LabelRow(
        tenant=feedback.tenant,
        dataset=FEEDBACK_DATASET,
        request_id=feedback.request_id,
        text=known.query,
        label=label,
        predicted=known.label,
        variant=known.variant,
        user_id=known.user_id,
        labelled_at=feedback.occurred_at,
    )


async def record_feedback(
    feedback: Feedback,
    *,
    ledger: PredictionLedger,
    labels: Labels,
    park: FeedbackPark,
    wait_s: float,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome | None:
    """Return the outcome of `feedback`, joined to its prediction (`settle`); feedback
    whose prediction has not arrived within `wait_s` is parked (None) and settled when it
    arrives (`settle_parked`), or dead-lettered if it never does (`expire_parked`).
    """
    known = await find_prediction(feedback, ledger=ledger, wait_s=wait_s)
    if known is None:
        await park.park(feedback)
        # The prediction may have been stored while this parked: the one that writes last
        # sees the other's write, so the feedback is settled here, there or (harmlessly,
        # the same outcome id) both.
        known = await ledger.find(feedback.tenant, feedback.request_id)
        if known is None:
            PARKED.inc()
            return None
    return await settle(feedback, known, ledger=ledger, labels=labels, clock=clock)


async def settle(
    feedback: Feedback,
    known: KnownPrediction,
    *,
    ledger: PredictionLedger,
    labels: Labels,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome:
    """Return the outcome of `feedback` on `known`; a review takes that prediction off the
    review queue, and feedback naming the right label stores it for training.

    The message's span links to the prediction's trace, so one finds the other.
    """
    link_current_span(known.traceparent, reason="feedback on prediction")
    outcome = join_feedback(feedback, known, clock=clock)
    if feedback.kind == "review":
        await ledger.mark_reviewed(feedback.tenant, feedback.request_id)
    if (row := label_row(feedback, known)) is not None:
        await labels.record(row)
    return outcome


async def prediction_arrived(
    prediction: Prediction,
    *,
    ledger: PredictionLedger,
    labels: Labels,
    park: FeedbackPark,
    traceparent: str | None,
    policy: ReviewPolicy | None,
    publish: Callable[[Outcome], Awaitable[None]],
) -> None:
    """Remember `prediction` (`remember_prediction`), then settle the feedback parked on it
    (`settle_parked`)."""
    await remember_prediction(prediction, ledger=ledger, traceparent=traceparent, policy=policy)
    await settle_parked(prediction, ledger=ledger, labels=labels, park=park, publish=publish)


async def settle_parked(
    prediction: Prediction,
    *,
    ledger: PredictionLedger,
    labels: Labels,
    park: FeedbackPark,
    publish: Callable[[Outcome], Awaitable[None]],
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Publish the outcome of each feedback parked on `prediction` (once it is remembered),
    then release it; return how many. A crash in between publishes the same outcome again."""
    parked = await park.waiting(prediction.tenant, prediction.request_id)
    known = await ledger.find(prediction.tenant, prediction.request_id) if parked else None
    if known is None:  # nothing parked, or a refused request's prediction (never kept)
        return 0
    for feedback in parked:
        await publish(await settle(feedback, known, ledger=ledger, labels=labels, clock=clock))
        await park.release(feedback.tenant, feedback.feedback_id)
    return len(parked)


async def expire_parked(
    *, park: FeedbackPark, park_s: float, dead_letter: Callable[[Feedback, str], Awaitable[None]]
) -> int:
    """Dead-letter feedback whose prediction has not arrived within `park_s`; return how many."""

    async def send(feedback: Feedback) -> None:
        await dead_letter(
            feedback,
            f"no prediction for request {feedback.request_id!r} of tenant {feedback.tenant!r} "
            f"arrived within {park_s:g}s of its feedback (PILLARS_FEEDBACK_PARK_S)",
        )

    return await park.expire(park_s, send)

import asyncio
import uuid

import pytest

from services.feedback.handlers import (
    find_prediction,
    join_feedback,
    record_feedback,
    remember_prediction,
    review_reason,
)
from services.feedback.ports import ReviewPolicy
from shared.contracts.events import Feedback, RetrievedChunk, ReviewVerdict
from shared.kit.deadletter import Rejected
from tests.fakes import InMemoryLedger
from tests.unit.evaluator.test_handlers import prediction
from tests.unit.feedback.fakes import RecordedLabels

TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


async def test_feedback_joins_its_prediction() -> None:
    ledger = InMemoryLedger()
    await remember_prediction(prediction("r1", [0.5]), ledger=ledger, traceparent=TRACEPARENT)
    feedback = Feedback(tenant="acme", feedback_id="f1", request_id="r1", kind="rating", value=4)
    known = await find_prediction(feedback, ledger=ledger, wait_s=0)
    outcome = join_feedback(feedback, known)
    assert (outcome.variant, outcome.experiment, outcome.value) == ("a", "e", 4)
    assert known.traceparent == TRACEPARENT
    assert outcome.event_id == join_feedback(feedback, known).event_id


async def test_a_refused_request_is_not_kept_for_feedback_or_review() -> None:
    ledger = InMemoryLedger()
    refused = prediction("r1", []).model_copy(update={"rejected": "over its rate"})
    await remember_prediction(refused, ledger=ledger, traceparent=None)
    assert ledger.known == {}


async def test_only_a_review_takes_its_prediction_off_the_queue() -> None:
    ledger = InMemoryLedger()
    policy = ReviewPolicy(confidence_below=0.9)
    await remember_prediction(
        prediction("r1", [0.5]), ledger=ledger, traceparent=None, policy=policy
    )
    click = Feedback(tenant="acme", feedback_id="f1", request_id="r1", kind="click")
    assert (
        await record_feedback(click, ledger=ledger, labels=RecordedLabels(), wait_s=0)
    ).kind == "click"
    assert [k.request_id for k in await ledger.review_queue(10)] == ["r1"]
    verdict = ReviewVerdict(verdict="correct")
    review = Feedback(
        tenant="acme", feedback_id="f2", request_id="r1", kind="review", review=verdict
    )
    outcome = await record_feedback(review, ledger=ledger, labels=RecordedLabels(), wait_s=0)
    assert (outcome.kind, outcome.review) == ("review", verdict)
    assert await ledger.review_queue(10) == []


async def test_feedback_waits_for_a_late_prediction() -> None:
    ledger = InMemoryLedger()
    feedback = Feedback(tenant="acme", feedback_id="f1", request_id="r1", kind="click")

    async def late() -> None:
        await asyncio.sleep(0.1)
        await remember_prediction(prediction("r1", [0.5]), ledger=ledger, traceparent=None)

    task = asyncio.create_task(late())
    known = await find_prediction(feedback, ledger=ledger, wait_s=2, poll_s=0.02)
    await task
    assert known.request_id == "r1"


async def test_feedback_without_prediction_is_rejected_after_waiting() -> None:
    feedback = Feedback(tenant="acme", feedback_id="f1", request_id="nope", kind="click")
    with pytest.raises(Rejected, match="no prediction for request 'nope'"):
        await find_prediction(feedback, ledger=InMemoryLedger(), wait_s=0.05, poll_s=0.01)


def test_unsure_predictions_all_go_to_review_and_a_share_of_the_others() -> None:
    policy = ReviewPolicy(sample_rate=0.2, sample_rates={"e/b": 0.0}, confidence_below=0.5)
    unsure = review_reason(prediction("r0", [0.3, 0.49]), policy)
    assert unsure == "low confidence: best passage scores 0.49 < 0.5"
    sampled = [review_reason(prediction(f"r{i}", [0.9]), policy) for i in range(2000)]
    share = sum(r is not None for r in sampled) / len(sampled)
    assert 0.17 < share < 0.23  # 20% of the arm, within sampling error
    assert all(r in (None, "sampled: 20% of e/a") for r in sampled)
    again = [review_reason(prediction(f"r{i}", [0.9]), policy) for i in range(2000)]
    assert again == sampled  # a replay decides the same
    other_arm = [review_reason(prediction(f"r{i}", [0.9], "b"), policy) for i in range(500)]
    assert other_arm == [None] * 500  # its own rate: 0


def test_review_confidence_reads_the_cosine_not_a_hybrid_arms_fused_score() -> None:
    policy = ReviewPolicy(sample_rate=0.0, confidence_below=0.5)
    confident = prediction("r1", [])
    confident.sources.append(
        RetrievedChunk(
            chunk_id=uuid.uuid4(),
            document_id="d",
            text="t",
            score=0.032,
            mode="hybrid",
            similarity=0.81,
            fused_score=0.032,
        )
    )
    assert review_reason(confident, policy) is None

import asyncio
import uuid

from services.feedback.handlers import (
    expire_parked,
    find_prediction,
    join_feedback,
    record_feedback,
    remember_prediction,
    review_reason,
    settle_parked,
)
from services.feedback.ports import ReviewPolicy
from shared.contracts.events import Feedback, Outcome, RetrievedChunk, ReviewVerdict
from tests.fakes import InMemoryLedger, InMemoryPark
from tests.unit.evaluator.test_handlers import prediction
from tests.unit.feedback.fakes import RecordedLabels

TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


async def test_feedback_joins_its_prediction() -> None:
    ledger = InMemoryLedger()
    await remember_prediction(prediction("r1", [0.5]), ledger=ledger, traceparent=TRACEPARENT)
    feedback = Feedback(tenant="acme", feedback_id="f1", request_id="r1", kind="rating", value=4)
    known = await find_prediction(feedback, ledger=ledger, wait_s=0)
    assert known is not None
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
        await record_feedback(
            click, ledger=ledger, labels=RecordedLabels(), park=InMemoryPark(), wait_s=0
        )
    ).kind == "click"
    assert [k.request_id for k in await ledger.review_queue(10)] == ["r1"]
    verdict = ReviewVerdict(verdict="correct")
    review = Feedback(
        tenant="acme", feedback_id="f2", request_id="r1", kind="review", review=verdict
    )
    outcome = await record_feedback(
        review, ledger=ledger, labels=RecordedLabels(), park=InMemoryPark(), wait_s=0
    )
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
    assert known is not None
    assert known.request_id == "r1"


async def test_feedback_ahead_of_its_prediction_is_parked_then_settled_when_it_arrives() -> None:
    ledger, park, labels = InMemoryLedger(), InMemoryPark(), RecordedLabels()
    feedback = Feedback(tenant="acme", feedback_id="f1", request_id="r1", kind="click")
    assert await find_prediction(feedback, ledger=ledger, wait_s=0.05, poll_s=0.01) is None
    parked = await record_feedback(feedback, ledger=ledger, labels=labels, park=park, wait_s=0)
    assert parked is None
    assert await park.waiting("acme", "r1") == [feedback]
    published: list[Outcome] = []

    async def publish(outcome: Outcome) -> None:
        published.append(outcome)

    other = prediction("r2", [0.5])
    await remember_prediction(other, ledger=ledger, traceparent=None)
    assert await settle_parked(other, ledger=ledger, labels=labels, park=park, publish=publish) == 0
    arrived = prediction("r1", [0.5])
    await remember_prediction(arrived, ledger=ledger, traceparent=None)
    assert (
        await settle_parked(arrived, ledger=ledger, labels=labels, park=park, publish=publish) == 1
    )
    assert [(o.request_id, o.kind, o.variant) for o in published] == [("r1", "click", "a")]
    assert await park.waiting("acme", "r1") == []
    # The outcome is the one joining it directly would have given (same id): the evaluator
    # counts it once whichever path, or both, published it.
    direct = await record_feedback(feedback, ledger=ledger, labels=labels, park=park, wait_s=0)
    assert direct is not None
    assert direct.event_id == published[0].event_id


async def test_parked_feedback_whose_prediction_never_comes_is_dead_lettered() -> None:
    park = InMemoryPark()
    feedback = Feedback(tenant="acme", feedback_id="f1", request_id="nope", kind="click")
    await record_feedback(
        feedback, ledger=InMemoryLedger(), labels=RecordedLabels(), park=park, wait_s=0
    )
    sent: list[tuple[str, str]] = []

    async def dead_letter(event: Feedback, reason: str) -> None:
        sent.append((event.feedback_id, reason))

    assert await expire_parked(park=park, park_s=60, dead_letter=dead_letter) == 0
    await asyncio.sleep(0.02)
    assert await expire_parked(park=park, park_s=0.01, dead_letter=dead_letter) == 1
    assert sent[0][0] == "f1"
    assert "no prediction for request 'nope'" in sent[0][1]
    assert await park.waiting("acme", "nope") == []


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

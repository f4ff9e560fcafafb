import asyncio

import pytest

from services.feedback.handlers import find_prediction, join_feedback, remember_prediction
from shared.deadletter import Rejected
from shared.events import Feedback
from tests.fakes import InMemoryLedger
from tests.unit.evaluator.test_handlers import prediction

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

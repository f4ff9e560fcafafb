"""Feedback that names the right label becomes a labelled example for training: the
prediction's query, the true label, what was predicted, the arm and the user."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.feedback.handlers import record_feedback, remember_prediction
from shared.contracts.events import Feedback, Prediction, ReviewVerdict
from shared.labels import LabelRow
from tests.fakes import InMemoryLedger, InMemoryPark
from tests.unit.evaluator.test_handlers import prediction
from tests.unit.feedback.fakes import RecordedLabels


def classified(request_id: str, label: str | None = "fresh") -> Prediction:
    """Return a prediction a classifier answered (`label`), for user u1's query."""
    return prediction(request_id, [0.9]).model_copy(
        update={"query": f"what about {request_id}?", "label": label, "user_id": "u1"}
    )


async def labelled(feedback: Feedback, answered: Prediction) -> list[LabelRow]:
    """Return the label rows `feedback` on `answered` writes."""
    ledger, labels = InMemoryLedger(), RecordedLabels()
    await remember_prediction(answered, ledger=ledger, traceparent=None)
    await record_feedback(feedback, ledger=ledger, labels=labels, park=InMemoryPark(), wait_s=0)
    return list(labels.rows.values())


def feedback(kind: str, **fields: object) -> Feedback:
    return Feedback(tenant="acme", feedback_id=f"f-{kind}", request_id="r1", kind=kind, **fields)  # type: ignore[arg-type]


async def test_a_label_is_stored_with_the_query_the_prediction_and_the_user() -> None:
    given = feedback("label", value="rotten")
    [row] = await labelled(given, classified("r1"))
    assert row == LabelRow(
        tenant="acme",
        dataset="feedback",
        request_id="r1",
        text="what about r1?",
        label="rotten",
        predicted="fresh",
        variant="a",
        user_id="u1",
        labelled_at=given.occurred_at,
    )


async def test_a_label_on_a_generated_answer_is_stored_too() -> None:
    [row] = await labelled(feedback("label", value="plot"), classified("r1", label=None))
    assert (row.label, row.predicted) == ("plot", None)


async def test_a_correction_names_the_corrected_label() -> None:
    [row] = await labelled(feedback("correction", value="plot"), classified("r1"))
    assert (row.label, row.predicted) == ("plot", "fresh")


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (ReviewVerdict(verdict="correct"), ["fresh"]),
        (ReviewVerdict(verdict="incorrect", correction="rotten"), ["rotten"]),
        (ReviewVerdict(verdict="incorrect"), []),
    ],
)
async def test_a_review_confirms_or_corrects_the_label(
    verdict: ReviewVerdict, expected: list[str]
) -> None:
    rows = await labelled(feedback("review", review=verdict), classified("r1"))
    assert [row.label for row in rows] == expected


@pytest.mark.parametrize(
    "given",
    [
        Feedback(tenant="acme", feedback_id="f", request_id="r1", kind="click"),
        Feedback(tenant="acme", feedback_id="f", request_id="r1", kind="rating", value=5),
        Feedback(tenant="acme", feedback_id="f", request_id="r1", kind="thumbs", value="up"),
    ],
    ids=["click", "rating", "thumbs"],
)
async def test_feedback_that_names_no_label_writes_none(given: Feedback) -> None:
    assert await labelled(given, classified("r1")) == []


async def test_a_generators_answer_or_its_correction_is_no_label() -> None:
    generated = classified("r1", label=None)
    assert await labelled(feedback("correction", value="a better answer"), generated) == []
    review = feedback("review", review=ReviewVerdict(verdict="correct"))
    assert await labelled(review, generated) == []


async def test_redelivered_feedback_writes_the_same_row_and_a_later_label_replaces_it() -> None:
    ledger, labels = InMemoryLedger(), RecordedLabels()
    await remember_prediction(classified("r1"), ledger=ledger, traceparent=None)
    first = feedback("label", value="rotten")
    for _ in range(2):
        await record_feedback(first, ledger=ledger, labels=labels, park=InMemoryPark(), wait_s=0)
    assert [row.label for row in labels.rows.values()] == ["rotten"]
    later = Feedback(
        tenant="acme",
        feedback_id="f-later",
        request_id="r1",
        kind="label",
        value="plot",
        occurred_at=first.occurred_at + timedelta(seconds=5),
    )
    await record_feedback(later, ledger=ledger, labels=labels, park=InMemoryPark(), wait_s=0)
    await record_feedback(
        first, ledger=ledger, labels=labels, park=InMemoryPark(), wait_s=0
    )  # late redelivery
    assert [row.label for row in labels.rows.values()] == ["plot"]

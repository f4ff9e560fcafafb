"""Feedback on predictions, and feedback joined to its prediction.

Topics `feedback` and `outcomes`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field, model_validator

from shared.contracts.events.base import Contract, EntityId, Event

__all__ = ["Feedback", "FeedbackKind", "Outcome", "ReviewVerdict"]


FeedbackKind = Literal["click", "conversion", "rating", "thumbs", "label", "correction", "review"]


class ReviewVerdict(Contract):
    """A human reviewer's judgement of a prediction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Literal["correct", "incorrect"]
    relevance: int | None = Field(
        default=None, ge=1, le=5, description="How relevant the retrieved passages were, 1-5."
    )
    correction: str | None = Field(default=None, max_length=4096)
    reviewer: str | None = Field(default=None, max_length=256)


class Feedback(Event):
    """A user action or reviewer verdict on a prediction (topic `feedback`).

    `value` by kind: click and conversion none (or 1); rating 1-5; thumbs `up`/`down`
    (or 1/0); label the true label; correction the corrected answer; review none, with
    `review` holding the verdict.
    """

    key_field: ClassVar[str] = "request_id"

    feedback_id: EntityId
    request_id: EntityId
    kind: FeedbackKind
    value: float | str | None = None
    review: ReviewVerdict | None = None
    comment: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Feedback:
        check = _VALUE_CHECKS[self.kind]
        problem = check(self.value)
        if problem:
            raise ValueError(f"{self.kind} feedback: {problem} (got value={self.value!r})")
        if (self.kind == "review") != (self.review is not None):
            raise ValueError("review feedback carries `review` (and only review feedback does)")
        return self


def _no_value(value: float | str | None) -> str | None:
    return None if value in (None, 1, 1.0) else "no value, or 1"


def _rating(value: float | str | None) -> str | None:
    ok = isinstance(value, int | float) and 1 <= value <= 5
    return None if ok else "a number from 1 to 5"


def _thumbs(value: float | str | None) -> str | None:
    return None if value in ("up", "down", 1, 0, 1.0, 0.0) else "`up` or `down` (or 1/0)"


def _text(value: float | str | None) -> str | None:
    return None if isinstance(value, str) and value.strip() else "a non-empty text"


def _nothing(value: float | str | None) -> str | None:
    return None if value is None else "no value (the verdict is in `review`)"


_VALUE_CHECKS = {
    "click": _no_value,
    "conversion": _no_value,
    "rating": _rating,
    "thumbs": _thumbs,
    "label": _text,
    "correction": _text,
    "review": _nothing,
}


class Outcome(Event):
    """Feedback joined to its prediction and arm (topic `outcomes`)."""

    key_field: ClassVar[str] = "request_id"

    feedback_id: str
    request_id: str
    kind: str
    value: float | str | None = None
    review: ReviewVerdict | None = None
    experiment: str
    variant: str
    answer: str
    prediction_occurred_at: AwareDatetime

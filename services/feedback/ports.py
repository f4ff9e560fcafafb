"""What the feedback handlers need from the outside world."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.contracts.events import Feedback, RetrievedChunk
from shared.labels import LabelRow

__all__ = ["FeedbackPark", "KnownPrediction", "Labels", "PredictionLedger", "ReviewPolicy"]


@dataclass(frozen=True)
class KnownPrediction:
    """What the feedback service keeps of a prediction: to join feedback, and to review it."""

    tenant: str
    request_id: str
    experiment: str
    variant: str
    answer: str
    occurred_at: datetime
    traceparent: str | None
    query: str = ""
    sources: tuple[RetrievedChunk, ...] = ()
    review_reason: str | None = None
    label: str | None = None  # a classifier's label, when one answered
    user_id: str | None = None


@dataclass(frozen=True)
class ReviewPolicy:
    """Which predictions go to human review: a share of each arm, and all unsure ones."""

    sample_rate: float = 0.05
    sample_rates: dict[str, float] = field(default_factory=dict)  # "experiment/variant" -> rate
    confidence_below: float = 0.5


class PredictionLedger(Protocol):
    """The feedback service's own record of predictions and its review queue."""

    async def remember(self, prediction: KnownPrediction) -> None:
        """Store a prediction; storing it again changes nothing."""
        ...

    async def find(self, tenant: str, request_id: str) -> KnownPrediction | None:
        """Return the tenant's prediction for `request_id`, if known."""
        ...

    async def review_queue(self, limit: int) -> list[KnownPrediction]:
        """Return predictions waiting for review, oldest first."""
        ...

    async def mark_reviewed(self, tenant: str, request_id: str) -> None:
        """Take a prediction off the review queue."""
        ...


class Labels(Protocol):
    """The labelled examples training reads (`shared.labels`): feedback that says what the
    right label was becomes one."""

    async def record(self, row: LabelRow) -> None:
        """Store a label; a newer one for the same request replaces it."""
        ...


class FeedbackPark(Protocol):
    """Feedback whose prediction had not arrived yet, kept durably until it does.

    Feedback can overtake its prediction: the feedback service reads `predictions` and
    `feedback` with separate consumers, and after a crash, a broker restart or a rebalance
    one may run seconds behind the other. Parked, such feedback is joined when its
    prediction arrives instead of being dead-lettered after a fixed wait.
    """

    async def park(self, feedback: Feedback) -> None:
        """Keep `feedback` until its prediction arrives; parking it again changes nothing."""
        ...

    async def waiting(self, tenant: str, request_id: str) -> list[Feedback]:
        """Return the tenant's parked feedback on `request_id`, oldest first."""
        ...

    async def release(self, tenant: str, feedback_id: str) -> None:
        """Forget parked feedback once its outcome is out."""
        ...

    async def expire(self, older_than_s: float, send: Callable[[Feedback], Awaitable[None]]) -> int:
        """Hand each feedback parked longer than `older_than_s` to `send` (its dead-letter),
        then forget it; return how many. Replicas expiring at once never send one twice."""
        ...

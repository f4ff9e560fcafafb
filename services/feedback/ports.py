"""What the feedback handlers need from the outside world."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.contracts.events import RetrievedChunk
from shared.labels import LabelRow

__all__ = ["KnownPrediction", "Labels", "PredictionLedger", "ReviewPolicy"]


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

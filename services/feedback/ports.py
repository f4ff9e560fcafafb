"""What the feedback handlers need from the outside world."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["KnownPrediction", "PredictionLedger"]


@dataclass(frozen=True)
class KnownPrediction:
    """What the feedback service keeps of a prediction to join feedback to it."""

    tenant: str
    request_id: str
    experiment: str
    variant: str
    answer: str
    occurred_at: datetime
    traceparent: str | None


class PredictionLedger(Protocol):
    """The feedback service's own record of predictions."""

    async def remember(self, prediction: KnownPrediction) -> None:
        """Store a prediction; storing it again changes nothing."""
        ...

    async def find(self, tenant: str, request_id: str) -> KnownPrediction | None:
        """Return the tenant's prediction for `request_id`, if known."""
        ...

"""The feedback service's own Prometheus series (served with the kit's on its endpoint)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from shared.contracts.events import Outcome

__all__ = ["FEEDBACK", "PARKED", "counted", "observe_outcome"]

FEEDBACK = Counter(
    "pillars_feedback_total",
    "Feedback joined to its prediction.",
    ["experiment", "variant", "kind"],
)

PARKED = Counter(
    "pillars_feedback_parked_total",
    "Feedback that arrived before its prediction, kept until the prediction does.",
)


def observe_outcome(outcome: Outcome) -> None:
    """Count the joined feedback by its arm and kind."""
    FEEDBACK.labels(outcome.experiment, outcome.variant, outcome.kind).inc()


def counted(publish: Callable[[Outcome], Awaitable[None]]) -> Callable[[Outcome], Awaitable[None]]:
    """Return `publish` counting each outcome (`observe_outcome`) before it goes out."""

    async def publish_counted(outcome: Outcome) -> None:
        observe_outcome(outcome)
        await publish(outcome)

    return publish_counted

"""The feedback service's own Prometheus series (served with the kit's on its endpoint)."""

from __future__ import annotations

from prometheus_client import Counter

from shared.contracts.events import Outcome

__all__ = ["FEEDBACK", "observe_outcome"]

FEEDBACK = Counter(
    "pillars_feedback_total",
    "Feedback joined to its prediction.",
    ["experiment", "variant", "kind"],
)


def observe_outcome(outcome: Outcome) -> None:
    """Count the joined feedback by its arm and kind."""
    FEEDBACK.labels(outcome.experiment, outcome.variant, outcome.kind).inc()

"""The scaler service's own Prometheus series (served with the kit's on its endpoint), and
what updates them."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Gauge

from services.scaler.ports import GroupLag
from shared.contracts.events import ScalingDecision

__all__ = [
    "CONSUMER_LAG",
    "CURRENT_REPLICAS",
    "DESIRED_REPLICAS",
    "SCALING_DECISIONS",
    "observe",
]

CONSUMER_LAG = Gauge(
    "pillars_consumer_lag_messages", "Messages not yet committed.", ["service", "consumer_group"]
)
DESIRED_REPLICAS = Gauge("pillars_desired_replicas", "What the scaler decided.", ["service"])
CURRENT_REPLICAS = Gauge("pillars_current_replicas", "Replicas running.", ["service"])
SCALING_DECISIONS = Counter(
    "pillars_scaling_decisions_total", "Scaling decisions by direction.", ["service", "direction"]
)


def observe(decision: ScalingDecision, groups: Sequence[GroupLag]) -> None:
    """Export the round's lags, replica counts and direction as Prometheus metrics."""
    for group in groups:
        CONSUMER_LAG.labels(decision.service, group.group).set(group.lag)
    DESIRED_REPLICAS.labels(decision.service).set(decision.desired_replicas)
    CURRENT_REPLICAS.labels(decision.service).set(decision.current_replicas)
    change = decision.desired_replicas - decision.current_replicas
    direction = "up" if change > 0 else "down" if change < 0 else "hold"
    SCALING_DECISIONS.labels(decision.service, direction).inc()

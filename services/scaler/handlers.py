"""Scaler handlers: turn a service's consumer-group lag into a replica decision."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from services.scaler.ports import GroupLag
from shared.events import ScalingDecision

__all__ = ["SERVICE", "LagPolicy", "decide_replicas"]

SERVICE = "scaler"


@dataclass(frozen=True)
class LagPolicy:
    """Replicas = ceil(lag / lag_per_replica), within [minimum, min(maximum, partitions)]."""

    lag_per_replica: int
    minimum: int
    maximum: int


def decide_replicas(
    service: str, lags: Sequence[GroupLag], *, policy: LagPolicy, tenant: str = "platform"
) -> ScalingDecision:
    """Decide how many replicas `service` needs for the lag of all its consumer groups."""
    lag = sum(g.lag for g in lags)
    partitions = max((g.partitions for g in lags), default=0)
    current = max((g.members for g in lags), default=0)
    ceiling = max(policy.minimum, min(policy.maximum, partitions))
    wanted = math.ceil(lag / policy.lag_per_replica)
    desired = min(max(wanted, policy.minimum), ceiling)
    if desired == wanted:
        reason = f"lag {lag} at {policy.lag_per_replica} per replica"
    elif desired < wanted:
        bound = "partitions" if ceiling == partitions else "max replicas"
        reason = f"lag {lag} wants {wanted}, capped at {ceiling} by {bound}"
    else:
        reason = f"lag {lag}: kept at the minimum of {policy.minimum}"
    return ScalingDecision(
        tenant=tenant,
        service=service,
        consumer_group=",".join(g.group for g in lags),
        topics=[g.topic for g in lags],
        partitions=partitions,
        lag=lag,
        current_replicas=current,
        desired_replicas=desired,
        reason=reason,
        acted=False,
    )

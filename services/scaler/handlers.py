"""Scaler handlers: a service's consumer-group offsets in, a replica decision out."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest

from services.scaler.policy import Observation, Policy, RateTracker, Stabilizer
from services.scaler.ports import GroupLag, ReplicaBackend
from shared.contracts.events import ScalingDecision

__all__ = ["SERVICE", "ServiceScaler", "observe", "scale_service"]

SERVICE = "scaler"

log = logging.getLogger(__name__)


def observe(
    groups: Sequence[GroupLag], replicas: int, at: float, consumers_per_replica: int = 1
) -> Observation:
    """Sum a service's groups into one observation.

    Every replica consumes each of the service's topics, so a replica can serve
    partition i of every topic: lags add up per partition index.
    """
    lags = tuple(
        sum(column) for column in zip_longest(*(g.partition_lags for g in groups), fillvalue=0)
    )
    return Observation(
        at=at,
        partition_lags=lags,
        end_offsets=sum(g.end_offsets for g in groups),
        committed=sum(g.committed for g in groups),
        replicas=replicas,
        consumers_per_replica=consumers_per_replica,
    )


@dataclass
class ServiceScaler:
    """One service's scaling state: its rate history and its stabilisation window."""

    service: str
    policy: Policy
    default_rate_per_replica: float
    warmup_s: float = 15.0
    tracker: RateTracker = field(init=False)
    stabilizer: Stabilizer = field(init=False)

    def __post_init__(self) -> None:
        self.tracker = RateTracker(self.default_rate_per_replica, warmup_s=self.warmup_s)
        self.stabilizer = Stabilizer(self.policy.scale_down_stabilization_s)

    def decide(
        self,
        groups: Sequence[GroupLag],
        *,
        replicas: int,
        at: float,
        backend: str,
        tenant: str = "platform",
        consumers_per_replica: int = 1,
    ) -> ScalingDecision:
        """Observe, update rates, recommend and stabilise; `acted` is for the caller to set.

        `consumers_per_replica`: the fewest consumers a replica runs for one of the topics
        (see `shared.kit.messaging.consumers_per_replica`); it bounds how many replicas the
        partitions can keep busy."""
        seen = observe(groups, replicas, at, consumers_per_replica)
        rates = self.tracker.update(seen)
        recommended = self.policy.recommend(seen, rates)
        desired = self.stabilizer.settle(at, recommended.replicas)
        reason = recommended.reason
        if desired != recommended.replicas:
            reason += (
                f"; holding {desired} until the {self.policy.scale_down_stabilization_s:g} s "
                "scale-down window settles"
            )
        return ScalingDecision(
            tenant=tenant,
            service=self.service,
            consumer_group=",".join(g.group for g in groups),
            topics=[g.topic for g in groups],
            partitions=seen.partitions,
            partition_lags=list(seen.partition_lags),
            lag=seen.lag,
            arrival_rate=round(rates.arrival, 3),
            processed_rate=round(rates.processed, 3),
            rate_per_replica=round(rates.per_replica, 3),
            rate_measured=rates.measured,
            policy=self.policy.name,
            recommended_replicas=recommended.replicas,
            current_replicas=replicas,
            desired_replicas=desired,
            reason=reason,
            backend=backend,
        )


async def scale_service(
    groups: Sequence[GroupLag],
    *,
    consumers: Sequence[int],
    scaler: ServiceScaler,
    backend: ReplicaBackend,
    clock: Callable[[], float] = time.monotonic,
) -> ScalingDecision:
    """Decide how many replicas `scaler`'s service needs from its groups' lag, and act.

    `consumers[i]`: the consumers one replica runs for `groups[i]`'s topic. A failed action
    is not raised but recorded in the decision's `error`, and retried next round.
    """
    service = scaler.service
    running = await backend.replicas(service)
    if running is None:  # each replica is one member per consumer it runs
        running = max(
            (math.ceil(g.members / n) for g, n in zip(groups, consumers, strict=True)),
            default=0,
        )
    decision = scaler.decide(
        groups,
        replicas=running,
        at=clock(),
        backend=backend.name,
        consumers_per_replica=min(consumers, default=1),
    )
    if decision.desired_replicas != running and backend.name != "dry-run":
        try:
            acted = await backend.scale(service, decision.desired_replicas)
            decision = decision.model_copy(update={"acted": acted})
        except Exception as exc:  # a failed action is reported, and retried next round
            log.exception("scaling %s to %d failed", service, decision.desired_replicas)
            decision = decision.model_copy(update={"error": f"{type(exc).__name__}: {exc}"})
    if decision.acted:
        log.info(
            "%s: %d -> %d replicas (%s)",
            service,
            running,
            decision.desired_replicas,
            decision.reason,
        )
    return decision

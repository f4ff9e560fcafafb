"""How many replicas a service needs: pure functions of what the scaler observed.

Two policies share one shape. `DrainPolicy` (pillars') sizes replicas so the current
lag drains within `target_drain_s` while keeping up with arrivals:
⌈(arrival + lag ÷ target_drain_s) ÷ rate per replica⌉. `KedaPolicy` is KEDA's Kafka
scaler formula, ⌈lag ÷ lag_threshold⌉, for comparison. Both are bounded by the
replica limits and by the partitions that have work (a partition feeds one consumer
of a group, so replicas beyond that only wait). Scale-up applies at once; scale-down
takes the highest recommendation of the stabilisation window, as Kubernetes' HPA does.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DrainPolicy",
    "KedaPolicy",
    "Observation",
    "PartitionLags",
    "Policy",
    "RateTracker",
    "Rates",
    "Recommendation",
    "Stabilizer",
]


@dataclass(frozen=True)
class PartitionLags:
    """Lag per partition, committed (or start) offset to end offset, and offset sums."""

    partition_lags: tuple[int, ...]
    end_offsets: int  # sum over partitions
    committed: int  # sum of committed positions (the start offset where none yet)

    @property
    def lag(self) -> int:
        """Total lag."""
        return sum(self.partition_lags)

    @property
    def partitions(self) -> int:
        """How many partitions."""
        return len(self.partition_lags)


@dataclass(frozen=True)
class Observation(PartitionLags):
    """One look at a service's consumer groups, summed over the topics it consumes."""

    at: float  # seconds, any monotonic clock
    replicas: int
    consumers_per_replica: int = 1  # a replica reading with several takes that many partitions


@dataclass(frozen=True)
class Rates:
    """Messages per second: arriving, processed by all replicas, one replica's capacity."""

    arrival: float
    processed: float
    per_replica: float
    measured: bool  # False until a busy interval measured per_replica


@dataclass
class RateTracker:
    """Derives rates from offset deltas between consecutive observations.

    processed ÷ replicas over an interval is a sample of a replica's capacity: a
    full one if the interval began and ended with lag (the replicas were busy), a
    lower bound if not. Right after the replica count changes, new replicas are
    still starting and the group rebalances, so intervals within `warmup_s` of a
    change give no samples. An interval can only understate capacity (a pause, a
    slow batch, too little work), so the estimate is the best busy sample of the
    last `window` (the last one seen, if they all left the window), raised to the
    best lower bound; with no busy sample yet, the configured default stands in
    for it.
    """

    default_per_replica: float
    warmup_s: float = 15.0
    window: int = 12
    _last: Observation | None = None
    _busy: deque[float] = field(default_factory=deque)
    _idle: deque[float] = field(default_factory=deque)
    _known: float | None = None
    _stable_from: float = float("-inf")

    def update(self, now: Observation) -> Rates:
        """Take one observation; return the rates over the interval it closes."""
        last, self._last = self._last, now
        if last is None or now.at <= last.at:
            return self._rates(0.0, 0.0)
        if now.replicas != last.replicas:
            self._stable_from = now.at + self.warmup_s
        seconds = now.at - last.at
        arrival = max(0, now.end_offsets - last.end_offsets) / seconds
        processed = max(0, now.committed - last.committed) / seconds
        stable = last.at >= self._stable_from and now.replicas == last.replicas
        if stable and last.replicas > 0 and processed > 0:
            busy = last.lag > 0 and now.lag > 0
            samples = self._busy if busy else self._idle
            samples.append(processed / last.replicas)
            while len(samples) > self.window:
                samples.popleft()
            if busy:
                self._known = max(self._busy)
        return self._rates(arrival, processed)

    def _rates(self, arrival: float, processed: float) -> Rates:
        best = max(self._busy) if self._busy else self._known
        floor = max(self._idle, default=0.0)
        return Rates(
            arrival=arrival,
            processed=processed,
            per_replica=max(self.default_per_replica if best is None else best, floor),
            measured=best is not None,
        )


@dataclass(frozen=True)
class Recommendation:
    """A replica count and why."""

    replicas: int
    reason: str


class Policy(Protocol):
    """Turns an observation and its rates into a replica recommendation."""

    @property
    def name(self) -> str:
        """`drain` or `keda`."""
        ...

    @property
    def minimum(self) -> int:
        """Fewest replicas."""
        ...

    @property
    def maximum(self) -> int:
        """Most replicas."""
        ...

    @property
    def scale_down_stabilization_s(self) -> float:
        """Seconds a scale-down waits for the recommendations to settle."""
        ...

    def recommend(self, seen: Observation, rates: Rates) -> Recommendation:
        """Return the replicas the service needs now, within bounds."""
        ...


def _bounded(
    wanted: int, useful: int, seen: Observation, policy: Policy, why: str
) -> Recommendation:
    """Clamp `wanted` to [minimum, min(maximum, replicas the useful partitions can feed)] and
    say which bound held."""
    useful = math.ceil(useful / seen.consumers_per_replica)
    ceiling = max(policy.minimum, min(policy.maximum, useful))
    if wanted > ceiling:
        if policy.maximum <= useful:
            bound = "max replicas"
        elif useful == math.ceil(seen.partitions / seen.consumers_per_replica):
            bound = "partitions"
        else:
            bound = "partitions with lag"
        return Recommendation(ceiling, f"{why} wants {wanted}, capped at {ceiling} by {bound}")
    if wanted < policy.minimum:
        return Recommendation(policy.minimum, f"{why}: kept at the minimum of {policy.minimum}")
    return Recommendation(wanted, why)


@dataclass(frozen=True)
class DrainPolicy:
    """Drain the lag within `target_drain_s` while keeping up with arrivals."""

    target_drain_s: float
    minimum: int
    maximum: int
    scale_down_stabilization_s: float = 60.0
    name: str = "drain"

    def recommend(self, seen: Observation, rates: Rates) -> Recommendation:
        """⌈(arrival + lag ÷ target_drain_s) ÷ rate per replica⌉, bounded."""
        need = rates.arrival + seen.lag / self.target_drain_s
        wanted = math.ceil(need / rates.per_replica) if need > 0 else 0
        source = "measured" if rates.measured else "assumed"
        why = (
            f"arrival {rates.arrival:.1f}/s + lag {seen.lag} over {self.target_drain_s:g} s "
            f"at {rates.per_replica:.1f}/s per replica ({source})"
        )
        # Arrivals may land on any partition; without them only lagging partitions have work.
        busy = sum(1 for lag in seen.partition_lags if lag > 0)
        useful = seen.partitions if rates.arrival > 0 else busy
        return _bounded(wanted, useful, seen, self, why)


@dataclass(frozen=True)
class KedaPolicy:
    """KEDA's Kafka scaler: ⌈total lag ÷ lag_threshold⌉, bounded."""

    lag_threshold: int
    minimum: int
    maximum: int
    scale_down_stabilization_s: float = 300.0  # the HPA's default
    name: str = "keda"

    def recommend(self, seen: Observation, rates: Rates) -> Recommendation:
        """⌈lag ÷ lag_threshold⌉, bounded."""
        wanted = math.ceil(seen.lag / self.lag_threshold)
        why = f"lag {seen.lag} at {self.lag_threshold} per replica"
        return _bounded(wanted, seen.partitions, seen, self, why)


@dataclass
class Stabilizer:
    """Scale up at once; scale down to the highest recommendation of the last window."""

    window_s: float
    _history: deque[tuple[float, int]] = field(default_factory=deque)

    def settle(self, at: float, recommended: int) -> int:
        """Record a recommendation made at `at`; return the replicas to run."""
        self._history.append((at, recommended))
        while self._history and self._history[0][0] < at - self.window_s:
            self._history.popleft()
        return max(r for _, r in self._history)

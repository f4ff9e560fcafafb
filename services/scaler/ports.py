"""What the scaler handlers need from the outside world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.scaler.policy import PartitionLags

__all__ = ["GroupLag", "LagProbe", "ReplicaBackend"]


@dataclass(frozen=True)
class GroupLag(PartitionLags):
    """One consumer group on one topic: per-partition lag, offset sums and live members."""

    group: str
    topic: str
    members: int


class LagProbe(Protocol):
    """Reads consumer-group lag from Kafka."""

    async def observe(self, group: str, topic: str) -> GroupLag:
        """Return the group's lag on `topic` now."""
        ...


class ReplicaBackend(Protocol):
    """Where replicas run: reads and sets how many of a service there are."""

    @property
    def name(self) -> str:
        """`local`, `kubernetes` or `dry-run`."""
        ...

    async def replicas(self, service: str) -> int | None:
        """Return the replicas the backend runs now (None: it cannot tell)."""
        ...

    async def scale(self, service: str, replicas: int) -> bool:
        """Ask for `replicas` of `service`; return whether anything changed."""
        ...

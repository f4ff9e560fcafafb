"""What the scaler handlers need from the outside world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["GroupLag", "LagProbe"]


@dataclass(frozen=True)
class GroupLag:
    """One consumer group on one topic: partitions, total lag and live members."""

    group: str
    topic: str
    partitions: int
    lag: int
    members: int


class LagProbe(Protocol):
    """Reads consumer-group lag from Kafka."""

    async def observe(self, group: str, topic: str) -> GroupLag:
        """Return the group's lag on `topic` now."""
        ...

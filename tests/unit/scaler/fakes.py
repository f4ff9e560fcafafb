"""Stand-ins for the scaler's ports: a lag probe with fixed answers, backends that record."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.scaler.ports import GroupLag


@dataclass
class FixedLagProbe:
    """LagProbe whose every group lags by `partition_lags`; it records what it was asked."""

    partition_lags: tuple[int, ...]
    members: int = 1
    unreachable: frozenset[str] = frozenset()  # groups whose offsets cannot be read
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def observe(self, group: str, topic: str) -> GroupLag:
        self.asked.append((group, topic))
        if group in self.unreachable:
            raise ConnectionError(f"cannot read the offsets of {group}")
        return GroupLag(
            group=group,
            topic=topic,
            partition_lags=self.partition_lags,
            end_offsets=sum(self.partition_lags),
            committed=0,
            members=self.members,
        )


@dataclass
class RecordingBackend:
    """ReplicaBackend that runs `running` replicas of each service and records each scale."""

    running: int = 1
    name: str = "recording"
    calls: list[tuple[str, int]] = field(default_factory=list)

    async def replicas(self, service: str) -> int | None:
        return self.running

    async def scale(self, service: str, replicas: int) -> bool:
        self.calls.append((service, replicas))
        return True


@dataclass
class FailingBackend(RecordingBackend):
    """ReplicaBackend whose every scale fails, as a supervisor that is gone would."""

    async def scale(self, service: str, replicas: int) -> bool:
        self.calls.append((service, replicas))
        raise RuntimeError("supervisor refused PUT embedding: gone")

"""The local backend against `pillars up`'s real control API (with a stand-in supervisor)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from services.scaler.adapters.replica_backends import DryRun, LocalSupervisor
from shared.platform.runtime.control import MAX_LOCAL_REPLICAS, ControlServer


@dataclass
class CountingSupervisor:
    running: dict[str, int] = field(default_factory=lambda: {"embedding": 1})
    calls: list[tuple[str, int]] = field(default_factory=list)

    def replicas(self, service: str) -> int:
        return self.running.get(service, 0)

    def scale(self, service: str, replicas: int) -> bool:
        self.calls.append((service, replicas))
        changed = self.running.get(service, 0) != replicas
        self.running[service] = replicas
        return changed


@pytest.fixture
def supervisor() -> CountingSupervisor:
    return CountingSupervisor()


@pytest.fixture
def control(supervisor: CountingSupervisor) -> Iterator[str]:
    server = ControlServer(("embedding", "inference"))
    url = server.start(supervisor)
    try:
        yield url
    finally:
        server.stop()


async def test_local_backend_reads_and_sets_the_supervisors_replicas(
    control: str, supervisor: CountingSupervisor
) -> None:
    backend = LocalSupervisor(control)

    assert await backend.replicas("embedding") == 1
    assert await backend.scale("embedding", 3) is True
    assert await backend.scale("embedding", 3) is False
    assert await backend.replicas("embedding") == 3
    assert supervisor.calls == [("embedding", 3), ("embedding", 3)]


async def test_the_control_api_refuses_unknown_services_and_bad_counts(
    control: str, supervisor: CountingSupervisor
) -> None:
    backend = LocalSupervisor(control)

    with pytest.raises(RuntimeError, match="services: embedding, inference"):
        await backend.scale("scaler", 2)
    with pytest.raises(RuntimeError, match=f"0..{MAX_LOCAL_REPLICAS}"):
        await backend.scale("embedding", MAX_LOCAL_REPLICAS + 1)
    assert supervisor.calls == []


def test_the_local_backend_wants_an_http_url() -> None:
    with pytest.raises(ValueError, match="PILLARS_SUPERVISOR_URL"):
        LocalSupervisor("file:///etc/passwd")


async def test_dry_run_never_acts() -> None:
    backend = DryRun()

    assert await backend.replicas("embedding") is None
    assert await backend.scale("embedding", 5) is False

"""The keeper restarts a crashed embedded server with backoff and gives up with the reason."""

from __future__ import annotations

import pytest

from shared.platform.runtime.errors import EmbeddedServer, RuntimeSetupError
from shared.platform.runtime.keeper import InfrastructureKeeper


class FlakyServer(EmbeddedServer):
    """Dies when told; its restarts fail `failing` times first."""

    def __init__(self, failing: int = 0) -> None:
        self.alive = True
        self.failing = failing
        self.restarts = 0

    @property
    def running(self) -> bool:
        return self.alive

    def restart(self, timeout_s: float = 90.0) -> str:
        self.restarts += 1
        if self.failing:
            self.failing -= 1
            raise RuntimeSetupError("port in use")
        self.alive = True
        return "127.0.0.1:1"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_dead_server_is_restarted_after_backoff_and_reported_with_its_downtime() -> None:
    clock = Clock()
    server = FlakyServer(failing=1)
    keeper = InfrastructureKeeper({"broker": server}, backoff_s=1.0, clock=clock)
    assert keeper.check() == []  # alive: nothing to do
    server.alive = False
    assert keeper.check() == []  # the first restart fails: backoff 2 s
    clock.now += 1.0
    assert keeper.check() == []
    assert server.restarts == 1
    clock.now += 1.5
    [restart] = keeper.check()
    assert (restart.name, restart.down_s) == ("broker", 2.5)
    assert server.restarts == 2
    assert server.alive


def test_a_server_that_will_not_start_again_ends_the_platform_with_the_reason() -> None:
    clock = Clock()
    server = FlakyServer(failing=10)
    keeper = InfrastructureKeeper({"Postgres": server}, max_failures=3, clock=clock)
    server.alive = False
    for _ in range(2):  # two failed tries: backing off, not giving up
        keeper.check()
        clock.now += 60
    expected = r"Postgres could not be started again \(3 tries\): port in use"
    with pytest.raises(RuntimeSetupError, match=expected):
        keeper.check()

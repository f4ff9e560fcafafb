"""The circuit breaker opens after consecutive failures, probes once after the reset, recovers."""

from __future__ import annotations

import asyncio

import pytest

from shared.generators.base import GeneratorUnavailable
from shared.generators.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Callee:
    """Counts calls; fails while `failing`."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = True

    async def __call__(self) -> str:
        self.calls += 1
        if self.failing:
            raise RuntimeError("boom")
        return "ok"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker("model at x", failures=3, reset_s=30.0, clock=clock)


async def fail(breaker: CircuitBreaker, callee: Callee, times: int) -> None:
    for _ in range(times):
        with pytest.raises(RuntimeError, match="boom"):
            await breaker.call(callee)


async def test_opens_after_consecutive_failures_and_refuses_without_calling(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    callee = Callee()
    await fail(breaker, callee, 2)
    assert breaker.state == "closed"
    await fail(breaker, callee, 1)
    assert breaker.state == "open"

    clock.now += 10
    with pytest.raises(GeneratorUnavailable) as refused:
        await breaker.call(callee)

    assert callee.calls == 3
    message = str(refused.value)
    assert message.startswith("model at x: circuit open after 3 consecutive failures")
    assert "(last: boom)" in message
    assert "next try in 20.0 s" in message


async def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    callee = Callee()
    await fail(breaker, callee, 2)
    callee.failing = False
    assert await breaker.call(callee) == "ok"
    callee.failing = True
    await fail(breaker, callee, 2)
    assert breaker.state == "closed"


async def test_half_open_probe_success_closes(breaker: CircuitBreaker, clock: FakeClock) -> None:
    callee = Callee()
    await fail(breaker, callee, 3)
    clock.now += 30
    assert breaker.state == "half-open"

    callee.failing = False
    assert await breaker.call(callee) == "ok"

    assert breaker.state == "closed"
    assert callee.calls == 4


async def test_half_open_probe_failure_opens_for_another_reset(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    callee = Callee()
    await fail(breaker, callee, 3)
    clock.now += 30
    await fail(breaker, callee, 1)  # the probe: one failure is enough to reopen
    assert breaker.state == "open"

    clock.now += 29.9
    with pytest.raises(GeneratorUnavailable):
        await breaker.call(callee)
    clock.now += 0.1
    assert breaker.state == "half-open"
    assert callee.calls == 4


async def test_half_open_lets_only_one_probe_through(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    callee = Callee()
    await fail(breaker, callee, 3)
    clock.now += 30
    release = asyncio.Event()

    async def slow_success() -> str:
        await release.wait()
        return "probed"

    probe = asyncio.create_task(breaker.call(slow_success))
    await asyncio.sleep(0)  # let the probe in
    with pytest.raises(GeneratorUnavailable, match="a probe call is in flight"):
        await breaker.call(callee)
    release.set()

    assert await probe == "probed"
    assert breaker.state == "closed"
    assert callee.calls == 3


async def test_a_cancelled_probe_lets_the_next_call_probe(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    callee = Callee()
    await fail(breaker, callee, 3)
    clock.now += 30
    probe = asyncio.create_task(breaker.call(asyncio.Event().wait))
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    callee.failing = False
    assert await breaker.call(callee) == "ok"
    assert breaker.state == "closed"


async def test_errors_that_do_not_trip_count_as_an_answer(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        "model at x",
        failures=1,
        reset_s=30.0,
        trips=lambda exc: not isinstance(exc, ValueError),
        clock=clock,
    )

    async def bad_request() -> None:
        raise ValueError("prompt too long")

    for _ in range(3):
        with pytest.raises(ValueError, match="prompt too long"):
            await breaker.call(bad_request)
    assert breaker.state == "closed"
    await fail(breaker, Callee(), 1)
    assert breaker.state == "open"


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="failures >= 1"):
        CircuitBreaker("x", failures=0, reset_s=1.0)

"""A circuit breaker: stop calling a generator that keeps failing, probe it again later."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from shared.generators.base import GeneratorUnavailable

__all__ = ["BreakerState", "CircuitBreaker"]

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half-open"]


def _every_error(_: Exception) -> bool:
    return True


class CircuitBreaker:
    """Closed until `failures` consecutive calls fail, then open for `reset_s`, then one probe.

    Half-open lets exactly one probe call through: its success closes the circuit, its failure
    opens it for another `reset_s`. Every state change happens between awaits, so callers
    sharing one event loop need no lock (the breaker is not meant to be shared across threads).
    `trips` decides which errors count as failures; the others pass through and, since the
    callee did answer, count as a success.
    """

    def __init__(
        self,
        name: str,
        *,
        failures: int,
        reset_s: float,
        trips: Callable[[Exception], bool] = _every_error,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or reset_s <= 0:
            raise ValueError("a circuit breaker needs failures >= 1 and reset_s > 0")
        self.name = name
        self._failures = failures
        self._reset_s = reset_s
        self._trips = trips
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False
        self._last_error = ""

    @property
    def state(self) -> BreakerState:
        """Where the circuit stands now."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._reset_s:
            return "half-open"
        return "open"

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Await `operation()` if the circuit lets it through, else raise `GeneratorUnavailable`."""
        probe = self._admit()
        try:
            result = await operation()
        except Exception as exc:
            if self._trips(exc):
                self._failed(exc)
            else:
                self._succeeded()
            raise
        except BaseException:
            # Cancelled: nothing was learnt about the callee, so let the next call probe.
            if probe:
                self._probing = False
            raise
        self._succeeded()
        return result

    def _admit(self) -> bool:
        state = self.state
        if state == "closed":
            return False
        if state == "half-open" and not self._probing:
            self._probing = True
            return True
        if state == "half-open":
            wait = "a probe call is in flight"
        else:
            assert self._opened_at is not None
            retry_in = self._opened_at + self._reset_s - self._clock()
            wait = f"next try in {retry_in:.1f} s"
        raise GeneratorUnavailable(
            f"{self.name}: circuit open after {self._consecutive} consecutive failures "
            f"(last: {self._last_error}); {wait}"
        )

    def _succeeded(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._probing = False

    def _failed(self, exc: Exception) -> None:
        self._consecutive += 1
        # Errors usually start with the same name as the breaker: keep just the cause.
        self._last_error = (str(exc) or type(exc).__name__).removeprefix(f"{self.name}: ")
        if self._probing or self._consecutive >= self._failures:
            self._opened_at = self._clock()
        self._probing = False

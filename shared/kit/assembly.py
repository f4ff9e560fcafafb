"""A service as assembled: the one typed dependencies object its bootstrap built, and the
rounds it runs on a timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Generic, TypeVar

__all__ = ["Assembled", "Periodic"]

log = logging.getLogger(__name__)
D = TypeVar("D")


class Assembled(Generic[D]):
    """What a service's bootstrap builds when the app starts, for its subscribers.

    Calling it returns the dependencies; before the app's lifespan built them it fails
    naming the service, instead of a handler finding a half-built adapter.
    """

    def __init__(self, service: str, build: Callable[[], AbstractAsyncContextManager[D]]) -> None:
        self._service = service
        self._build = build
        self._built: D | None = None

    def __call__(self) -> D:
        """Return the dependencies the bootstrap built."""
        if self._built is None:
            raise RuntimeError(
                f"{self._service}'s dependencies are used before "
                "its lifespan built them (run the app, or enter `lifespan()` in a test)"
            )
        return self._built

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Build the dependencies for as long as the app runs, then release them."""
        async with self._build() as built:
            self._built = built
            try:
                yield
            finally:
                self._built = None


class Periodic:
    """A round run every `interval_s` while the app runs; a failed round is logged and the
    next one still runs."""

    def __init__(self, name: str, interval_s: float, round_: Callable[[], Awaitable[None]]):
        self.name = name
        self.interval_s = interval_s
        self._round = round_
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the rounds (after the broker connected)."""
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Stop the rounds (before the broker disconnects)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self._round()
            except Exception:  # a failed round must not end the loop: log it, try again
                log.exception("%s: a round failed", self.name)
            await asyncio.sleep(self.interval_s)

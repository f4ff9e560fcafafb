"""Keeping the embedded broker and Postgres up while `pillars up` runs.

A crashed one is reported and started again with backoff (Postgres recovers from its WAL,
the broker from its log); the services, which retry, resume. One that cannot be started
again after `max_failures` tries in a row ends `pillars up` with the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.platform.runtime.errors import EmbeddedServer, RuntimeSetupError

__all__ = ["InfrastructureKeeper", "Restart"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Restart:
    """A server that was down and is up again, and for how long it was down."""

    name: str
    down_s: float


@dataclass
class _Kept:
    server: EmbeddedServer
    down_since: float | None = None
    failures: int = 0
    next_try: float = 0.0


class InfrastructureKeeper:
    """Checks the embedded servers; restarts the dead ones with exponential backoff."""

    def __init__(
        self,
        servers: Mapping[str, EmbeddedServer],
        *,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        max_failures: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kept = {name: _Kept(server) for name, server in servers.items()}
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_failures = max_failures
        self._clock = clock

    def check(self) -> list[Restart]:
        """Restart what died (when its backoff allows); return what came back up.

        Raises RuntimeSetupError naming the server once it failed to start `max_failures`
        times in a row.
        """
        restarted = []
        for name, kept in self._kept.items():
            if kept.server.running:
                kept.down_since, kept.failures = None, 0
                continue
            now = self._clock()
            if kept.down_since is None:
                kept.down_since = now
                log.error("%s exited; restarting it", name)
            if now < kept.next_try:
                continue
            try:
                kept.server.restart()
            except RuntimeSetupError as exc:
                kept.failures += 1
                if kept.failures >= self._max_failures:
                    raise RuntimeSetupError(
                        f"{name} could not be started again ({kept.failures} tries): {exc}"
                    ) from exc
                delay = min(self._max_backoff_s, self._backoff_s * 2**kept.failures)
                kept.next_try = now + delay
                log.warning("%s did not start (%s); next try in %.0f s", name, exc, delay)
                continue
            restarted.append(Restart(name, self._clock() - kept.down_since))
            log.warning("%s is up again after %.1f s", name, restarted[-1].down_s)
            kept.down_since, kept.failures = None, 0
        return restarted

"""Faults injected into a running `pillars up` at seeded random times: a service replica
SIGKILLed (the supervisor starts it again), the broker or the Postgres postmaster SIGKILLed
(`pillars up`'s keeper starts them again), the network to the broker stalled or its
connections dropped (through the proxy), and replicas scaled up and down (rebalances)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from shared.platform.runtime.host import accepts_connections
from tests.chaos.proxy import StallingProxy

__all__ = ["KINDS", "SERVICES", "Fault", "Injector", "schedule"]

SERVICES = ("ingestion", "embedding", "inference", "evaluator", "feedback", "scaler")
KINDS = ("replica", "broker", "postgres", "stall", "drop", "scale")


@dataclass(frozen=True)
class Fault:
    """One fault: what, on what, when it struck and when it was cleared (wall times)."""

    kind: str
    target: str
    at: float
    cleared: float


def schedule(count: int, rng: random.Random) -> list[str]:
    """Return `count` fault kinds, every kind at least once when `count` allows, replica
    kills the most common (there are six services to kill), in a seeded order."""
    weights = {"replica": 4, "broker": 1, "postgres": 1, "stall": 1, "drop": 1, "scale": 2}
    kinds = list(KINDS)[:count]
    pool = [kind for kind, n in weights.items() for _ in range(n)]
    kinds += [rng.choice(pool) for _ in range(count - len(kinds))]
    rng.shuffle(kinds)
    return kinds


class Injector:
    """Applies faults to the platform `pillars up` (process `up_pid`) runs in `data_dir`."""

    def __init__(
        self,
        *,
        up_pid: int,
        data_dir: Path,
        control_url: str,
        proxy: StallingProxy,
        broker_address: str,
        rng: random.Random,
    ) -> None:
        self.up_pid, self.data_dir, self.control_url = up_pid, data_dir, control_url
        self.proxy, self.broker_address, self.rng = proxy, broker_address, rng
        self._scaled: dict[str, int] = {}

    async def apply(self, kind: str) -> Fault:
        """Inflict one fault of `kind`; return it once it is cleared (what was killed is
        back, the stall is over)."""
        at = time.time()
        target = await getattr(self, f"_{kind}")()
        return Fault(kind, target, at, time.time())

    def _replicas(self, service: str) -> list[psutil.Process]:
        children = psutil.Process(self.up_pid).children(recursive=True)
        return [p for p in children if f"services.{service}" in " ".join(p.cmdline())]

    async def _replica(self) -> str:
        service = self.rng.choice(SERVICES)
        victims = self._replicas(service)
        if not victims:
            return f"{service} (no replica running)"
        victim = self.rng.choice(victims)
        victim.send_signal(signal.SIGKILL)
        return f"{service} pid {victim.pid}"

    async def _broker(self) -> str:
        [jvm] = [
            p
            for p in psutil.process_iter(["cmdline"])
            if "kafka.Kafka" in " ".join(p.info["cmdline"] or ())
            and str(self.data_dir) in " ".join(p.info["cmdline"] or ())
        ]
        jvm.send_signal(signal.SIGKILL)
        await self._until_back(lambda: accepts_connections(self.broker_address), jvm.pid)
        return f"broker pid {jvm.pid}"

    async def _postgres(self) -> str:
        [pid_file] = list(self.data_dir.rglob("postmaster.pid"))
        lines = pid_file.read_text().split("\n")
        pid, port = int(lines[0]), int(lines[3])
        os.kill(pid, signal.SIGKILL)
        await self._until_back(lambda: accepts_connections(f"127.0.0.1:{port}"), pid)
        return f"postmaster pid {pid}"

    async def _until_back(
        self, answers: Callable[[], bool], old_pid: int, timeout_s: float = 180
    ) -> None:
        await asyncio.sleep(1)
        deadline = time.monotonic() + timeout_s
        while not (await asyncio.to_thread(answers)):
            if time.monotonic() > deadline:
                raise AssertionError(f"pid {old_pid}'s server did not come back in {timeout_s} s")
            await asyncio.sleep(0.2)

    async def _stall(self) -> str:
        seconds = self.rng.uniform(3, 12)
        self.proxy.stall()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.proxy.resume()
        return f"network to the broker stalled {seconds:.1f} s"

    async def _drop(self) -> str:
        self.proxy.drop()
        return "every connection to the broker dropped"

    async def _scale(self) -> str:
        service = self.rng.choice(("ingestion", "embedding", "inference", "evaluator"))
        replicas = 1 if self._scaled.get(service, 1) > 1 else 2
        body = json.dumps({"replicas": replicas}).encode()
        request = urllib.request.Request(
            f"{self.control_url}/services/{service}/replicas", data=body, method="PUT"
        )

        def put() -> None:
            with urllib.request.urlopen(request, timeout=10) as reply:
                reply.read()

        await asyncio.to_thread(put)
        self._scaled[service] = replicas
        return f"{service} scaled to {replicas}"

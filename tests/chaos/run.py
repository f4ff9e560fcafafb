"""One run under faults: the platform behind a stalling proxy, a steady load, faults at
seeded random times, then the oracle's counts and each fault's recovery."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.kit.settings import bootstrap_list
from shared.platform.runtime.host import free_port
from tests.chaos.faults import Fault, Injector, schedule
from tests.chaos.load import Load
from tests.chaos.oracle import tally
from tests.chaos.proxy import StallingProxy
from tests.e2e.conftest import RunningPlatform, pillars_up

__all__ = ["ChaosPlatform", "chaos_platform", "run_chaos"]

TENANT = "chaos"


@dataclass
class ChaosPlatform:
    """`pillars up` whose services reach the broker through `proxy` only."""

    platform: RunningPlatform
    proxy: StallingProxy
    broker_address: str  # where the broker itself listens (not the proxy)

    @property
    def control_url(self) -> str:
        log = (self.platform.data_dir / "pillars-up.out").read_text()
        found = re.search(r"control\s+(http://\S+)/services/NAME/replicas", log)
        assert found is not None, "pillars up printed no control API"
        return found.group(1)


@contextlib.contextmanager
def chaos_platform(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[ChaosPlatform]:
    """Start the proxy, then `pillars up` with its broker advertising the proxy's address."""
    listen, advertised = free_port(), free_port()
    proxy = StallingProxy(advertised, listen)
    proxy.start()
    settings = {
        "PILLARS_DASHBOARD": "none",
        "PILLARS_EMBEDDED_KAFKA_PORT": str(listen),
        "PILLARS_EMBEDDED_KAFKA_ADVERTISED": f"127.0.0.1:{advertised}",
    }
    try:
        with pillars_up(data_dir, settings | (env or {})) as platform:
            yield ChaosPlatform(platform, proxy, f"127.0.0.1:{listen}")
    finally:
        proxy.stop()


# Requests sent up to this long after a fault cleared count as its backlog.
BACKLOG_S = 2.0


def first_progress_s(fault: Fault, arrivals: list[float]) -> float | None:
    """Return the time from the fault's clearing to the first answer after it (any request:
    with several replicas, answers may not stop at all)."""
    after = [t for t in arrivals if t >= fault.cleared]
    return min(after) - fault.cleared if after else None


def recovery_s(fault: Fault, sent: dict[str, float], answered: dict[str, float]) -> float | None:
    """Return the time from the fault's clearing until every request sent while it struck,
    or within `BACKLOG_S` after, was answered: a partition whose consumer died, or a broker
    away, holds its requests back until the group or the client recovers (None: one of them
    never was)."""
    backlog = [r for r, at in sent.items() if fault.at <= at <= fault.cleared + BACKLOG_S]
    if any(r not in answered for r in backlog):
        return None
    return max((answered[r] - fault.cleared for r in backlog), default=0.0)


def p99(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] if ordered else None


async def run_chaos(
    chaos: ChaosPlatform, *, seconds: float, rate_per_s: float, faults: int, seed: int
) -> dict[str, Any]:
    """Load the platform for `seconds` while `faults` faults strike; return the figures."""
    platform = chaos.platform
    bootstrap = bootstrap_list(platform.endpoints.kafka_bootstrap_servers)
    load = Load(bootstrap, TENANT, rate_per_s)
    stop = asyncio.Event()
    sending = asyncio.create_task(load.run(stop))
    rng = random.Random(seed)
    injector = Injector(
        up_pid=platform.process.pid,
        data_dir=platform.data_dir,
        control_url=chaos.control_url,
        proxy=chaos.proxy,
        broker_address=chaos.broker_address,
        rng=rng,
    )
    struck: list[Fault] = []
    slot = seconds / (faults + 1)
    began = time.monotonic()
    for n, kind in enumerate(schedule(faults, rng)):
        due = began + slot * (n + 1) + rng.uniform(-slot / 4, slot / 4)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        fault = await injector.apply(kind)
        print(f"fault {n + 1}/{faults}: {fault.kind} {fault.target}", flush=True)
        struck.append(fault)
    await asyncio.sleep(max(0.0, began + seconds - time.monotonic()))
    stop.set()
    await sending
    counts = await tally(
        bootstrap,
        platform.endpoints.database_url,
        tenant=TENANT,
        requests=load.requests,
        feedback=load.clicks,
    )
    recoveries = [recovery_s(f, load.requests, load.answered) for f in struck]
    measured = [r for r in recoveries if r is not None]
    progress = [p for f in struck if (p := first_progress_s(f, load.arrivals)) is not None]
    return {
        "events": load.events,
        "faults": len(struck),
        "fault_kinds": sorted({f.kind for f in struck}),
        **counts.as_dict(),
        "recovery_p99_s": round(p99(measured) or 0.0, 2) if measured else None,
        "unrecovered_faults": len(recoveries) - len(measured),
        "first_progress_p99_s": round(p99(progress) or 0.0, 2) if progress else None,
        "recovery_by_fault": [
            {"kind": f.kind, "target": f.target, "recovery_s": None if r is None else round(r, 2)}
            for f, r in zip(struck, recoveries, strict=True)
        ],
    }

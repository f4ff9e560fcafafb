"""pillars under injected faults, counted by the chaos suite's oracle, with exactly-once
hops off and on.

Usage: python tests/bench/chaos.py [--quick] [--seed N] [--modes off,on] [--hops-only]

For each mode (`PILLARS_EXACTLY_ONCE` false, then true): `pillars up` behind a stalling
proxy; first a paced request load without faults, timing each hop of the request path
(the events' own timestamps, `hops.run_chain`) and the CPU the whole platform (broker,
Postgres, services) spent per request; then a plain aiokafka client's steady load of
requests, documents and click feedback with faults at seeded random times (replica, broker
and postmaster SIGKILLs, network stalls and dropped connections, scale-ups and -downs);
then the oracle: `lost`, `conflicting`, `redelivered`, `chunk_differences`,
`metric_differences`, and each fault's recovery: from its clearing until every request sent
while it struck (or in the 2 s after) is answered (`recovery_p99_s`), and, weaker, to the
first answer of any request (`first_progress_p99_s`). Both modes share the seed, so they
face the same faults at the same times. The full run is at least 10,000 events and 30
faults a mode; `--quick` 8 faults in under 5 minutes a mode. Last line: one JSON object
(the off mode's figures at its top level, the on mode's under `exactly_once`, and the
ratios on ÷ off).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parents[2]))
sys.path.insert(0, str(Path(__file__).parent))
from benchkit import pct
from hops import run_chain

from tests.chaos.run import ChaosPlatform, chaos_platform, run_chaos

REQUEST_PATH_HOPS = ("ingestion", "embedding", "inference")


def _platform_cpu_s(chaos: ChaosPlatform) -> float:
    """Return the CPU seconds so far of `pillars up` and everything it runs."""
    root = psutil.Process(chaos.platform.process.pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def hop_figures(chaos: ChaosPlatform, requests: int, rate: float) -> dict[str, Any]:
    """Time the request path's hops for a paced load without faults, and the platform's
    CPU per request meanwhile."""
    before = _platform_cpu_s(chaos)
    hops = asyncio.run(run_chain(chaos.platform.endpoints, requests, rate))
    cpu_s = _platform_cpu_s(chaos) - before
    path = [ms for hop in REQUEST_PATH_HOPS for ms in hops[hop]]
    return {
        "hop_p50_ms": round(statistics.median(path), 1),
        "hop_p99_ms": round(pct(path, 99), 1),
        "hops": {
            hop: {"p50_ms": round(pct(v, 50), 1), "p99_ms": round(pct(v, 99), 1)}
            for hop, v in hops.items()
        },
        # Includes indexing the demo documents the requests retrieve from (the same in both).
        "cpu_ms_per_request": round(cpu_s * 1000 / requests, 1),
    }


def run_mode(exactly_once: bool, args: argparse.Namespace) -> dict[str, Any]:
    """Run the hop timing, then the faults, on a platform of its own in the given mode."""
    seconds, rate, faults = (150.0, 8.0, 8) if args.quick else (560.0, 14.0, 30)
    env = {"PILLARS_EXACTLY_ONCE": "true" if exactly_once else "false"}
    with (
        tempfile.TemporaryDirectory(prefix="pillars-chaos-bench-") as folder,
        chaos_platform(Path(folder), env) as chaos,
    ):
        hops = hop_figures(chaos, args.hop_requests, args.hop_rate)
        print(f"exactly_once={exactly_once}: {json.dumps(hops)}", flush=True)
        if args.hops_only:
            return hops | {"redelivered": None}
        figures = asyncio.run(
            run_chaos(chaos, seconds=seconds, rate_per_s=rate, faults=faults, seed=args.seed)
        )
    for fault in figures.pop("recovery_by_fault"):
        print(f"{fault['kind']:>8} {fault['target']:<45} recovered in {fault['recovery_s']} s")
    return figures | hops


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="8 faults over 150 s a mode")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--modes", default="off,on", help="exactly-once modes to run")
    parser.add_argument("--hop-requests", type=int, default=150)
    parser.add_argument("--hop-rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--hops-only", action="store_true", help="time the hops, no faults")
    args = parser.parse_args()
    began = time.monotonic()
    runs = {mode: run_mode(mode == "on", args) for mode in args.modes.split(",")}
    off, on = runs.get("off"), runs.get("on")
    figures: dict[str, Any] = dict(off or {})
    figures |= {
        "seed": args.seed,
        "redelivered_exactly_once": None if on is None else on["redelivered"],
        "exactly_once": on,
        "exactly_once_hop_p50_ratio": None,
        "exactly_once_hop_p99_ratio": None,
        "exactly_once_cpu_per_request_ratio": None,
    }
    if off is not None and on is not None:
        figures["exactly_once_hop_p50_ratio"] = round(on["hop_p50_ms"] / off["hop_p50_ms"], 2)
        figures["exactly_once_hop_p99_ratio"] = round(on["hop_p99_ms"] / off["hop_p99_ms"], 2)
        figures["exactly_once_cpu_per_request_ratio"] = round(
            on["cpu_ms_per_request"] / off["cpu_ms_per_request"], 2
        )
    figures["seconds"] = round(time.monotonic() - began, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

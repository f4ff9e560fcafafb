"""End-to-end latency while embedding scales 1 -> 2 -> 1 replicas, against steady, same run.

Usage: python tests/bench/rebalance.py [--quick] [--rate R] [--cycles N]
       [--compare-heartbeat MS]

Starts a fresh platform (the scaler only decides), sends requests at `--rate` for the
whole run, and after a steady stretch scales embedding 1 -> 2 and, `--window` seconds
later, back to 1, `--cycles` times, through the supervisor as the scaler would. Requests
sent after a scale-up (until the next change) are `scaleup`, after a scale-down
`scaledown`, before any `steady`: `scaleup_e2e_p99_ratio` = p99(scaleup) / p99(steady).
The group rebalances eagerly (aiokafka has no cooperative protocol): a member learns of a
rebalance at its next heartbeat, and a leaving member's partitions are read by nobody
until then, so the run is repeated with `--compare-heartbeat` (Kafka's default, 3000 ms)
on a second fresh platform for what `PILLARS_CONSUMER_HEARTBEAT_MS` changes. Last line:
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from benchkit import index_demo_documents, pct, running_platform
from fairness import Sent, send_and_collect, send_at_rate

from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints, Stack


async def run_load(
    endpoints: Endpoints, stack: Stack, args: argparse.Namespace
) -> dict[str, list[float]]:
    """Send at `args.rate` throughout; after `args.steady` seconds scale embedding 1 -> 2,
    `args.window` seconds later back to 1, `args.cycles` times. Return the e2e latencies of
    the requests sent in steady state, after a scale-up and after a scale-down."""
    assert stack.supervisor is not None
    supervisor = stack.supervisor
    changes: list[tuple[float, str]] = []  # (when, "scaleup" | "scaledown")
    seconds = args.steady + 2 * args.window * args.cycles
    async with PillarsClient(endpoints.kafka_bootstrap_servers, source="/bench") as client:
        tenant = f"rebal{int(time.time()) % 100000}"
        await index_demo_documents(client, tenant)
        sent = Sent(tenant)

        async def load_and_scale() -> None:
            load = asyncio.create_task(send_at_rate(client, sent, args.rate, seconds, "r"))
            await asyncio.sleep(args.steady)
            for _ in range(args.cycles):
                for replicas, what in ((2, "scaleup"), (1, "scaledown")):
                    changes.append((time.time(), what))
                    await asyncio.to_thread(supervisor.scale, "embedding", replicas)
                    print(f"embedding scaled to {replicas}")
                    await asyncio.sleep(max(0.0, changes[-1][0] + args.window - time.time()))
            await load

        await send_and_collect(client, load_and_scale(), [sent], 300)
    phases: dict[str, list[float]] = {"steady": [], "scaleup": [], "scaledown": []}
    for rid, prediction in sent.predictions.items():
        request = sent.requests[rid]
        at = request.occurred_at.timestamp()
        phase = next((what for when, what in reversed(changes) if when <= at), "steady")
        phases[phase].append((prediction.occurred_at - request.occurred_at).total_seconds() * 1e3)
    return phases


def measure(heartbeat_ms: int | None, args: argparse.Namespace) -> dict[str, object]:
    """Run the load on a fresh platform (consumers heartbeating every `heartbeat_ms`; None:
    the setting's default) and return its figures."""
    os.environ["PILLARS_SCALER_BACKEND"] = "dry-run"
    os.environ.pop("PILLARS_CONSUMER_HEARTBEAT_MS", None)
    if heartbeat_ms is not None:
        os.environ["PILLARS_CONSUMER_HEARTBEAT_MS"] = str(heartbeat_ms)
    with running_platform(reuse=False, dashboard="none") as (endpoints, stack):
        assert stack is not None
        phases = asyncio.run(run_load(endpoints, stack, args))
    steady = pct(phases["steady"], 99)
    figures: dict[str, object] = {"steady_p50_ms": round(pct(phases["steady"], 50), 1)}
    figures["steady_p99_ms"] = round(steady, 1)
    for phase in ("scaleup", "scaledown"):
        latencies = phases[phase]
        figures[f"{phase}_p50_ms"] = round(pct(latencies, 50), 1)
        figures[f"{phase}_p99_ms"] = round(pct(latencies, 99), 1)
        figures[f"{phase}_max_ms"] = round(max(latencies), 1)
        figures[f"{phase}_e2e_p99_ratio"] = round(pct(latencies, 99) / steady, 3)
    figures["requests"] = sum(map(len, phases.values()))
    label = f"heartbeat {heartbeat_ms} ms" if heartbeat_ms else "default heartbeat"
    print(
        f"{label}: steady p50/p99 {figures['steady_p50_ms']}/{figures['steady_p99_ms']} ms; "
        f"after scale-ups {figures['scaleup_p50_ms']}/{figures['scaleup_p99_ms']} ms (max "
        f"{figures['scaleup_max_ms']}), after scale-downs {figures['scaledown_p50_ms']}/"
        f"{figures['scaledown_p99_ms']} ms (max {figures['scaledown_max_ms']}); ratios "
        f"{figures['scaleup_e2e_p99_ratio']} / {figures['scaledown_e2e_p99_ratio']}"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter, no comparison run")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--steady", type=float, default=40.0, help="seconds before scaling")
    parser.add_argument("--window", type=float, default=15.0, help="seconds after each change")
    parser.add_argument("--cycles", type=int, default=3, help="scale-ups (each then back)")
    parser.add_argument(
        "--compare-heartbeat",
        type=int,
        default=3000,
        help="heartbeat (ms) of the comparison run; 0: none",
    )
    args = parser.parse_args()
    if args.quick:
        args.steady, args.cycles, args.compare_heartbeat = 25.0, 2, 0
    figures: dict[str, object] = {"rate_per_s": args.rate, **measure(None, args)}
    if args.compare_heartbeat:
        figures[f"heartbeat_{args.compare_heartbeat}ms"] = measure(args.compare_heartbeat, args)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

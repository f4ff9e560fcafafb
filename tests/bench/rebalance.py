"""End-to-end latency while embedding scales from 1 to 2 replicas, against steady, same run.

Usage: python tests/bench/rebalance.py [--quick] [--rate R] [--compare-heartbeat MS]

Starts a fresh platform (the scaler only decides), sends requests at `--rate` for the
whole run, and after a steady stretch scales embedding 1 -> 2 through the supervisor, as
the scaler would. Requests sent during the `--window` seconds after the scale-up are
`scaleup`, those before it `steady`: `scaleup_e2e_p99_ratio` = p99(scaleup) / p99(steady).
The group rebalances eagerly (aiokafka has no cooperative protocol): every member stops
fetching until every member has rejoined, which each does at its next heartbeat, so the
run is repeated with `--compare-heartbeat` (Kafka's default, 3000 ms) on a second fresh
platform for the figure the setting `PILLARS_CONSUMER_HEARTBEAT_MS` changes. Last line:
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
    endpoints: Endpoints, stack: Stack, rate: float, steady_s: float, window_s: float
) -> tuple[list[float], list[float]]:
    """Send at `rate` for `steady_s + window_s` seconds, scaling embedding 1 -> 2 after
    `steady_s`; return the e2e latencies of the requests sent before and after it."""
    assert stack.supervisor is not None
    supervisor = stack.supervisor
    async with PillarsClient(endpoints.kafka_bootstrap_servers, source="/bench") as client:
        tenant = f"rebal{int(time.time()) % 100000}"
        await index_demo_documents(client, tenant)
        sent = Sent(tenant)
        scaled_at = time.time() + steady_s

        async def load_and_scale() -> None:
            load = asyncio.create_task(send_at_rate(client, sent, rate, steady_s + window_s, "r"))
            await asyncio.sleep(max(0.0, scaled_at - time.time()))
            await asyncio.to_thread(supervisor.scale, "embedding", 2)
            print(f"embedding scaled to 2 after {steady_s:.0f} s")
            await load

        await send_and_collect(client, load_and_scale(), [sent], 300)
    steady, during = [], []
    for rid, prediction in sent.predictions.items():
        request = sent.requests[rid]
        e2e = (prediction.occurred_at - request.occurred_at).total_seconds() * 1000
        (during if request.occurred_at.timestamp() >= scaled_at else steady).append(e2e)
    return steady, during


def measure(heartbeat_ms: int | None, args: argparse.Namespace) -> dict[str, object]:
    """Run the load on a fresh platform (consumers heartbeating every `heartbeat_ms`; None:
    the setting's default) and return its figures."""
    os.environ["PILLARS_SCALER_BACKEND"] = "dry-run"
    os.environ.pop("PILLARS_CONSUMER_HEARTBEAT_MS", None)
    if heartbeat_ms is not None:
        os.environ["PILLARS_CONSUMER_HEARTBEAT_MS"] = str(heartbeat_ms)
    with running_platform(reuse=False, dashboard="none") as (endpoints, stack):
        assert stack is not None
        steady, during = asyncio.run(
            run_load(endpoints, stack, args.rate, args.steady, args.window)
        )
    figures = {
        "steady_p50_ms": round(pct(steady, 50), 1),
        "steady_p99_ms": round(pct(steady, 99), 1),
        "scaleup_p50_ms": round(pct(during, 50), 1),
        "scaleup_p99_ms": round(pct(during, 99), 1),
        "scaleup_max_ms": round(max(during), 1),
        "scaleup_e2e_p99_ratio": round(pct(during, 99) / pct(steady, 99), 3),
        "requests": len(steady) + len(during),
    }
    label = f"heartbeat {heartbeat_ms} ms" if heartbeat_ms else "default heartbeat"
    print(
        f"{label}: steady p50/p99 {figures['steady_p50_ms']}/{figures['steady_p99_ms']} ms, "
        f"across the scale-up {figures['scaleup_p50_ms']}/{figures['scaleup_p99_ms']} ms "
        f"(max {figures['scaleup_max_ms']}); ratio {figures['scaleup_e2e_p99_ratio']}"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter, no comparison run")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument("--steady", type=float, default=40.0, help="seconds before scaling")
    parser.add_argument("--window", type=float, default=20.0, help="seconds after scaling")
    parser.add_argument(
        "--compare-heartbeat",
        type=int,
        default=3000,
        help="heartbeat (ms) of the comparison run; 0: none",
    )
    args = parser.parse_args()
    if args.quick:
        args.steady, args.window, args.compare_heartbeat = 25.0, 15.0, 0
    figures: dict[str, object] = {"rate_per_s": args.rate, **measure(None, args)}
    if args.compare_heartbeat:
        figures[f"heartbeat_{args.compare_heartbeat}ms"] = measure(args.compare_heartbeat, args)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

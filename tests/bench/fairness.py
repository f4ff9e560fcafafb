"""A quiet tenant's end-to-end latency alone, and while another tenant floods at 10x its rate.

Usage: python tests/bench/fairness.py [--quick] [--quiet-rate R] [--seconds S] [--no-baseline]

Starts a fresh platform (`pillars up`'s runtime, in a temporary data directory) whose
ingestion limits every tenant to `--limit` requests/s, default 1.5x the usual rate
(PILLARS_DEFAULT_TENANT_RATE), and whose scaler only decides (replicas stay as they
are). In the same run: phase `alone`, the quiet tenant at its usual rate; phase `flood`,
the same plus a second tenant sending 10x that rate. The ratio is the quiet tenant's e2e
p99 with the flood over without (target <= 2). Unless `--no-baseline` (or `--quick`), the
same two phases then run on a second fresh platform with no limits, to show what the
token buckets save. E2e: the request's `occurred_at` (set here when sent) to its
prediction's. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field

from benchkit import index_demo_documents, pct, running_platform

from shared.contracts.events import InferenceRequest, Prediction
from shared.contracts.topics import Topic
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints

QUESTIONS = [
    "How do I serialize an object to JSON?",
    "How can I count hashable items?",
    "How do I parse command line options?",
    "How do I read a CSV file?",
    "How can I cache the results of a function?",
]


@dataclass
class Sent:
    """What one tenant sent in a phase and what came back for it."""

    tenant: str
    requests: dict[str, InferenceRequest] = field(default_factory=dict)
    predictions: dict[str, Prediction] = field(default_factory=dict)

    def e2e_ms(self) -> list[float]:
        """Return the end-to-end latency of each answered (not refused) request."""
        return [
            (p.occurred_at - self.requests[rid].occurred_at).total_seconds() * 1000
            for rid, p in self.predictions.items()
            if p.rejected is None
        ]

    @property
    def refused(self) -> int:
        return sum(p.rejected is not None for p in self.predictions.values())


async def send_at_rate(
    client: PillarsClient, sent: Sent, rate: float, seconds: float, prefix: str
) -> None:
    """Publish `sent.tenant`'s requests at `rate` per second for `seconds`, on a schedule (a
    slow publish does not shift the next ones)."""
    started = time.perf_counter()
    for i in range(round(rate * seconds)):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        request = InferenceRequest(
            tenant=sent.tenant,
            request_id=f"{prefix}{i}",
            query=QUESTIONS[i % len(QUESTIONS)],
            user_id=f"u{i % 50}",
        )
        sent.requests[request.request_id] = request
        await client.publish(Topic.REQUESTS, request)


async def send_and_collect(
    client: PillarsClient, sending: Awaitable[object], load: list[Sent], timeout_s: float
) -> None:
    """Watch `predictions`, run `sending`, then wait (bounded) until every request of `load`
    has its prediction (raising TimeoutError when one does not come)."""
    watch = await client.watch(Topic.PREDICTIONS)
    try:
        await sending
        wanted = {(s.tenant, rid) for s in load for rid in s.requests}
        events = await watch.collect(
            lambda evs: wanted <= {(e.tenant, getattr(e, "request_id", "")) for e in evs},
            timeout_s,
        )
    finally:
        await watch.stop()
    by_tenant = {s.tenant: s for s in load}
    for event in events:
        if isinstance(event, Prediction) and not event.shadow:
            sent = by_tenant.get(event.tenant)
            if sent is not None and event.request_id in sent.requests:
                sent.predictions.setdefault(event.request_id, event)


async def run_phases(
    endpoints: Endpoints, quiet_rate: float, flood_rate: float, seconds: float
) -> dict[str, Sent]:
    """Run the `alone` and `flood` phases; return what each tenant sent and got."""
    run = uuid.uuid4().hex[:6]
    quiet, noisy = f"quiet{run}", f"flood{run}"
    bootstrap = endpoints.kafka_bootstrap_servers
    async with PillarsClient(bootstrap, source="/bench") as client:
        await index_demo_documents(client, quiet)
        await index_demo_documents(client, noisy)
        # Warm every hop (first queries load caches and plans), then let it settle.
        warm = Sent(quiet)
        await send_and_collect(client, send_at_rate(client, warm, quiet_rate, 10, "w"), [warm], 120)
        alone = Sent(quiet)
        sending = send_at_rate(client, alone, quiet_rate, seconds, "alone")
        await send_and_collect(client, sending, [alone], 300)
        with_flood, flood = Sent(quiet), Sent(noisy)
        # The flood has a producer of its own, as another business system would: the quiet
        # tenant's sends do not queue behind its batches in this process.
        async with PillarsClient(bootstrap, source="/bench-flood") as flooding:
            both = asyncio.gather(
                send_at_rate(client, with_flood, quiet_rate, seconds, "during"),
                send_at_rate(flooding, flood, flood_rate, seconds, "flood"),
            )
            await send_and_collect(client, both, [with_flood, flood], 600)
    return {"alone": alone, "with_flood": with_flood, "flood": flood}


def figures_of(phases: dict[str, Sent]) -> dict[str, object]:
    alone, during, flood = (phases[k].e2e_ms() for k in ("alone", "with_flood", "flood"))
    return {
        "quiet_alone_p50_ms": round(pct(alone, 50), 1),
        "quiet_alone_p99_ms": round(pct(alone, 99), 1),
        "quiet_with_flood_p50_ms": round(pct(during, 50), 1),
        "quiet_with_flood_p99_ms": round(pct(during, 99), 1),
        "quiet_tenant_p99_ratio": round(pct(during, 99) / pct(alone, 99), 3),
        "quiet_refused": phases["alone"].refused + phases["with_flood"].refused,
        "flood_sent": len(phases["flood"].requests),
        "flood_answered": len(flood),
        "flood_refused": phases["flood"].refused,
        "flood_answered_p99_ms": round(pct(flood, 99), 1) if flood else None,
    }


def measure(limit: float | None, args: argparse.Namespace) -> dict[str, object]:
    """Run both phases on a fresh platform whose tenants are limited to `limit` (None: no
    limit) and return the figures."""
    os.environ["PILLARS_SCALER_BACKEND"] = "dry-run"  # replicas stay as they are
    os.environ.pop("PILLARS_DEFAULT_TENANT_RATE", None)
    if limit is not None:
        os.environ["PILLARS_DEFAULT_TENANT_RATE"] = str(limit)
    with running_platform(reuse=False, dashboard="none") as (endpoints, _):
        phases = asyncio.run(
            run_phases(endpoints, args.quiet_rate, 10 * args.quiet_rate, args.seconds)
        )
    figures = figures_of(phases)
    label = f"limit {limit:g}/s" if limit is not None else "no limit"
    print(
        f"{label}: quiet tenant p50/p99 {figures['quiet_alone_p50_ms']}/"
        f"{figures['quiet_alone_p99_ms']} ms alone, {figures['quiet_with_flood_p50_ms']}/"
        f"{figures['quiet_with_flood_p99_ms']} ms with the flood (ratio "
        f"{figures['quiet_tenant_p99_ratio']}); flood {figures['flood_sent']} sent, "
        f"{figures['flood_refused']} refused"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="30 s phases, no baseline")
    parser.add_argument("--quiet-rate", type=float, default=4.0, help="the usual requests/s")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument(
        "--limit", type=float, default=None, help="each tenant's requests/s (default 1.5x usual)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the no-limit run")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.no_baseline = 30.0, True
    limit = args.limit if args.limit is not None else 1.5 * args.quiet_rate
    limited = measure(limit, args)
    figures: dict[str, object] = {
        "quiet_rate_per_s": args.quiet_rate,
        "flood_rate_per_s": 10 * args.quiet_rate,
        "tenant_limit_per_s": limit,
        "seconds_per_phase": args.seconds,
        **limited,
    }
    if not args.no_baseline:
        figures["without_limits"] = measure(None, args)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

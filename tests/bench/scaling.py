"""pillars' drain-time scaling policy against KEDA's Kafka formula, on one bursty trace.

Usage: python tests/bench/scaling.py [--quick]

1. Measure the real embedding service (a platform started here with the scaler in
   dry-run, or the running one): the messages per second one replica processes with
   a backlog, and how long a new replica takes from spawn to consuming (process
   start, model load, group join).
2. Replay one arrival trace (steady load at half a replica's rate, then a 5x and a
   10x burst) in a simulation driven by those two figures, once per policy, with the
   real decision code (services.scaler: ServiceScaler, DrainPolicy, KedaPolicy):
   - pillars: every 5 s, ⌈(arrival + lag ÷ 30 s) ÷ measured rate⌉, 60 s scale-down window;
   - KEDA: every 30 s (its pollingInterval), ⌈lag ÷ lagThreshold⌉ with lagThreshold =
     rate x 30 s (the lag one replica drains within the same objective), the HPA's
     scale-up limit (double or +4 per step) and its 300 s scale-down stabilisation.
   A replica serves at the measured rate once started; any change of membership
   pauses the group for a rebalance. 12 partitions, 1..12 replicas.
3. Report per policy: seconds during which the lag could not drain within the 30 s
   objective (lag ÷ (capacity - arrival) > 30 s), replica-seconds, scale events.
   violation_ratio = ours ÷ KEDA's (target < 0.5); replica_seconds_ratio (≤ 1.0).
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from services.ingestion.adapters.model_tokenizer import ModelTokenizer
from services.ingestion.handlers import chunk_document
from services.scaler.handlers import ServiceScaler
from services.scaler.policy import DrainPolicy, KedaPolicy, Policy
from services.scaler.ports import GroupLag
from shared.contracts.events import DocumentChanged, DocumentIndexed
from shared.contracts.topics import Topic, consumer_group
from shared.encoders.model_folder import packaged_model_path
from shared.kit.kafka_admin import group_members
from shared.kit.settings import PillarsSettings
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Stack

TARGET_DRAIN_S = 30.0
PARTITIONS = 12
REBALANCE_S = 3.0
STEP_S = 0.5


@dataclass(frozen=True)
class Measured:
    rate_per_replica: float  # messages/s with a backlog
    startup_s: float  # spawn -> consuming


@dataclass(frozen=True)
class Outcome:
    violation_s: float
    replica_seconds: float
    scale_events: int
    peak_replicas: int
    max_lag: int


async def measure_service(stack: Stack, messages: int) -> Measured:
    """Backlog throughput of one embedding replica, and a second replica's start-up time."""
    assert stack.endpoints is not None
    assert stack.supervisor is not None
    bootstrap = stack.endpoints.kafka_bootstrap_servers
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    tokens = ModelTokenizer(packaged_model_path())
    docs = [
        chunk_document(
            DocumentChanged(tenant=tenant, document_id=f"d{i}", text=f"Message {i} of a burst."),
            tokens=tokens,
            chunk_size=64,
            overlap=0,
            max_bytes=10_000,
        )
        for i in range(messages)
    ]
    async with PillarsClient(bootstrap, source="/bench") as client:
        indexed = await client.watch(Topic.INDEXED)
        await asyncio.gather(*(client.publish(Topic.CHUNKS, d) for d in docs))
        seen: list[float] = []
        async with asyncio.timeout(600):
            async for event in indexed.stream():
                if isinstance(event, DocumentIndexed) and event.tenant == tenant:
                    seen.append(time.perf_counter())
                    if len(seen) == messages:
                        break
        await indexed.stop()
    # From the first to the last completion the replica was never idle.
    rate = (messages - 1) / (seen[-1] - seen[0])
    group = consumer_group(stack.settings.topic_prefix, "embedding", Topic.CHUNKS)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        started = time.perf_counter()
        stack.supervisor.scale("embedding", 2)
        async with asyncio.timeout(300):
            while True:  # the replica has joined once the group has two members
                if await group_members(admin, group) >= 2:
                    break
                await asyncio.sleep(0.2)
        startup = time.perf_counter() - started
    finally:
        await admin.close()
        await asyncio.to_thread(stack.supervisor.scale, "embedding", 1)
    return Measured(rate, startup)


def arrivals(base: float, duration_s: float) -> list[float]:
    """Messages/s per step: steady `base`, a 5x burst and a 10x burst of 60 s each."""
    trace = []
    for step in range(int(duration_s / STEP_S)):
        t = step * STEP_S
        factor = 5.0 if 120 <= t < 180 else 10.0 if 420 <= t < 480 else 1.0
        trace.append(base * factor)
    return trace


def simulate(
    policy: Policy, interval_s: float, keda: bool, m: Measured, trace: list[float]
) -> Outcome:
    """Replay `trace` against `policy` decided every `interval_s` with the real scaler code."""
    scaler = ServiceScaler(
        "embedding",
        policy,
        default_rate_per_replica=20.0,
        warmup_s=m.startup_s + REBALANCE_S + STEP_S,
    )
    lag = 0.0
    produced = committed = 0.0
    ready: list[float] = [0.0]  # per replica: when it starts consuming
    paused_until = 0.0
    violation = replica_seconds = 0.0
    events, peak, max_lag = 0, 1, 0.0
    next_decision = 0.0
    for step, arrival in enumerate(trace):
        t = step * STEP_S
        if t >= next_decision:
            next_decision = t + interval_s
            each = [int(lag // PARTITIONS)] * PARTITIONS
            for i in range(int(lag) - sum(each)):
                each[i] += 1
            group = GroupLag(
                group="g", topic="chunks", partition_lags=tuple(each),
                end_offsets=int(produced), committed=int(committed), members=len(ready),
            )  # fmt: skip
            decision = scaler.decide([group], replicas=len(ready), at=t, backend="sim")
            desired = decision.desired_replicas
            if keda and desired > len(ready):  # the HPA's default scale-up limit per step
                desired = min(desired, max(2 * len(ready), len(ready) + 4))
            if desired != len(ready):
                events += 1
                paused_until = max(paused_until, t + REBALANCE_S)
                if desired > len(ready):
                    ready += [t + m.startup_s] * (desired - len(ready))
                else:
                    ready = ready[:desired]
                peak = max(peak, desired)
        serving = sum(1 for r in ready if r <= t) if t >= paused_until else 0
        capacity = min(serving, PARTITIONS) * m.rate_per_replica
        produced += arrival * STEP_S
        lag += arrival * STEP_S
        done = min(lag, capacity * STEP_S)
        lag -= done
        committed += done
        max_lag = max(max_lag, lag)
        net = capacity - arrival
        if lag > 1 and (net <= 0 or lag / net > TARGET_DRAIN_S):
            violation += STEP_S
        replica_seconds += len(ready) * STEP_S
    return Outcome(violation, replica_seconds, events, peak, int(max_lag))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a smaller measuring burst")
    args = parser.parse_args()
    os.environ["PILLARS_SCALER_BACKEND"] = "dry-run"  # measure one replica, undisturbed
    stack = Stack(PillarsSettings(data_dir=Path(tempfile.mkdtemp(prefix="pillars-bench-"))))
    try:
        stack.start_infrastructure()
        stack.start_services(("embedding",))
        asyncio.run(wait_embedding(stack))
        measured = asyncio.run(measure_service(stack, 150 if args.quick else 600))
    finally:
        stack.stop()
    print(
        f"measured: one embedding replica {measured.rate_per_replica:.1f} msg/s with a backlog; "
        f"a new replica consumes {measured.startup_s:.1f} s after spawn"
    )
    rate = measured.rate_per_replica
    trace = arrivals(base=rate / 2, duration_s=900)
    ours = simulate(
        DrainPolicy(target_drain_s=TARGET_DRAIN_S, scale_down_stabilization_s=60, minimum=1,
                    maximum=PARTITIONS),
        5.0, False, measured, trace,
    )  # fmt: skip
    threshold = max(1, round(rate * TARGET_DRAIN_S))
    keda = simulate(
        KedaPolicy(lag_threshold=threshold, scale_down_stabilization_s=300, minimum=1,
                   maximum=PARTITIONS),
        30.0, True, measured, trace,
    )  # fmt: skip
    keda_default = simulate(
        KedaPolicy(lag_threshold=10, scale_down_stabilization_s=300, minimum=1,
                   maximum=PARTITIONS),
        30.0, True, measured, trace,
    )  # fmt: skip
    rows = {"pillars": ours, "keda": keda, "keda_threshold_10": keda_default}
    for name, o in rows.items():
        print(
            f"{name:18s} over-objective {o.violation_s:6.1f} s  replica-seconds "
            f"{o.replica_seconds:7.0f}  scale events {o.scale_events:3d}  peak {o.peak_replicas}"
            f"  max lag {o.max_lag}"
        )
    figures = {
        "rate_per_replica": round(rate, 2),
        "startup_s": round(measured.startup_s, 2),
        "keda_lag_threshold": threshold,
        **{
            f"{name}_{key}": value
            for name, o in rows.items()
            for key, value in {
                "violation_s": o.violation_s,
                "replica_seconds": round(o.replica_seconds, 1),
                "scale_events": o.scale_events,
            }.items()
        },
        "violation_ratio": round(ours.violation_s / keda.violation_s, 3)
        if keda.violation_s
        else (0.0 if not ours.violation_s else math.inf),
        "replica_seconds_ratio": round(ours.replica_seconds / keda.replica_seconds, 3),
    }
    print(json.dumps(figures))


async def wait_embedding(stack: Stack) -> None:
    from shared.kit.kafka_admin import wait_for_members

    assert stack.endpoints is not None
    group = consumer_group(stack.settings.topic_prefix, "embedding", Topic.CHUNKS)
    log = stack.data_dir / "logs" / "embedding-1.log"
    await wait_for_members(stack.endpoints.kafka_bootstrap_servers, [group], log.read_text, 300)


if __name__ == "__main__":
    main()

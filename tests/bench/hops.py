"""Per-hop and end-to-end latency of the request chain, against a raw Kafka hop baseline.

Usage: python tests/bench/hops.py [--requests N] [--rate R] [--tracing-overhead]

Uses the platform `pillars up` runs (or PILLARS_KAFKA_BOOTSTRAP_SERVERS /
PILLARS_DATABASE_URL); with none running, it starts one in a temporary data
directory. Hop latencies come from the events' own timestamps. The baseline,
measured in the same run, is one plain aiokafka produce -> consume hop over the
same broker plus one raw `SentenceTransformer.encode` of a query: the chain
cannot beat three Kafka hops plus one encode. Last line: one JSON object.

`--tracing-overhead` runs the same load on two fresh platforms, one after the other: one
whose services create spans but export none (no dashboard, no OTLP endpoint), one that
exports every span to `pillars up`'s Phoenix, and reports both and the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from benchkit import client_security, index_demo_documents, pct, running_platform

from shared.contracts.events import Event, InferenceRequest
from shared.contracts.topics import Topic, topic_name
from shared.kit.kafka_security import KafkaSecuritySettings, kafka_client_options
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints

QUESTIONS = [
    "How do I serialize an object to JSON?",
    "How can I count hashable items?",
    "How do I parse command line options?",
    "How do I read a CSV file?",
    "How can I cache the results of a function?",
]


async def kafka_hop_ms(
    bootstrap: str,
    samples: int = 200,
    pace_s: float = 0.0,
    security: KafkaSecuritySettings | None = None,
) -> list[float]:
    """Latency of one produce -> consume hop with plain aiokafka on a scratch topic.

    `pace_s`: the pause after each hop. Back to back (0) the broker and both ends stay hot;
    paced like a steady offered load, each hop starts from idle threads and cold caches,
    which on a small VM cost as much again as the hop itself.
    """
    topic = topic_name(Topic.SCALING)  # exists everywhere; only our own keys are timed
    options = kafka_client_options(security) if security else {}
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, **options)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **options)
    await consumer.start()
    await producer.start()
    await consumer.seek_to_end()
    marker = uuid.uuid4().hex.encode()
    latencies = []
    try:
        for i in range(samples):
            sent = time.perf_counter()
            await producer.send_and_wait(topic, b"{}", key=marker + str(i).encode())
            async for record in consumer:
                if record.key == marker + str(i).encode():
                    latencies.append((time.perf_counter() - sent) * 1000)
                    break
            if pace_s:
                await asyncio.sleep(pace_s)
    finally:
        await producer.stop()
        await consumer.stop()
    return latencies


async def faststream_hop_ms(bootstrap: str, samples: int = 100) -> list[float]:
    """Latency of one publish -> handler hop through a bare FastStream broker and subscriber
    (consumer group, commit after handling, the request path's fetch wait): the framework
    the services are built on, without any of pillars' middlewares or work."""
    from faststream.kafka import KafkaBroker

    from shared.kit.messaging import REQUEST_PATH_FETCH_WAIT_MS

    topic = topic_name(Topic.SCALING)
    marker = uuid.uuid4().hex
    broker = KafkaBroker(bootstrap, acks="all", enable_idempotence=True, logger=None)
    arrived: dict[int, float] = {}

    @broker.subscriber(
        topic,
        group_id=f"bench-{marker}",
        auto_offset_reset="latest",
        fetch_max_wait_ms=REQUEST_PATH_FETCH_WAIT_MS,
    )
    async def handle(body: dict[str, object]) -> None:
        if body.get("marker") == marker:
            arrived[int(str(body["i"]))] = time.perf_counter()

    publisher = broker.publisher(topic)
    await broker.start()
    try:
        await asyncio.sleep(3)  # the group's first assignment
        sent: dict[int, float] = {}
        for i in range(samples):
            sent[i] = time.perf_counter()
            await publisher.publish({"marker": marker, "i": i}, key=f"{marker}{i}".encode())
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
    finally:
        await broker.stop()
    return [(arrived[i] - sent[i]) * 1000 for i in sent if i in arrived]


def encode_ms(samples: int = 50) -> list[float]:
    """Latency of one raw query encode with the same model the embedding service runs."""
    from shared.encoders.model_folder import packaged_model_path
    from shared.encoders.sentence_encoder import SentenceEncoder

    encoder = SentenceEncoder(packaged_model_path(), batch_size=16, threads=2)
    encoder.encode_sync(["warm up"])
    out = []
    for i in range(samples):
        started = time.perf_counter()
        encoder.encode_sync([QUESTIONS[i % len(QUESTIONS)]])
        out.append((time.perf_counter() - started) * 1000)
    return out


async def run_chain(endpoints: Endpoints, requests: int, rate: float) -> dict[str, list[float]]:
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    async with PillarsClient(
        endpoints.kafka_bootstrap_servers, source="/bench", security=client_security(endpoints)
    ) as client:
        await index_demo_documents(client, tenant)
        watches = {
            t: await client.watch(t)
            for t in (
                Topic.REQUESTS_ACCEPTED,
                Topic.REQUESTS_EMBEDDED,
                Topic.PREDICTIONS,
                Topic.EVALUATIONS,
            )
        }
        sent: dict[str, InferenceRequest] = {}
        started = time.perf_counter()
        for i in range(requests):
            request = InferenceRequest(
                tenant=tenant,
                request_id=f"b{i}",
                query=QUESTIONS[i % len(QUESTIONS)],
                user_id=f"u{i}",
            )
            sent[request.request_id] = request
            await client.publish(Topic.REQUESTS, request)
            await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))
        found: dict[Topic, dict[str, Event]] = {}
        for topic, watch in watches.items():
            events = await watch.collect(
                lambda evs: sum(getattr(e, "tenant", "") == tenant for e in evs) >= requests, 300
            )
            found[topic] = {e.request_id: e for e in events if e.tenant == tenant}
            await watch.stop()
    hops: dict[str, list[float]] = {
        k: [] for k in ("ingestion", "embedding", "inference", "evaluator", "e2e")
    }
    for rid, request in sent.items():
        accepted = found[Topic.REQUESTS_ACCEPTED][rid]
        embedded = found[Topic.REQUESTS_EMBEDDED][rid]
        prediction = found[Topic.PREDICTIONS][rid]
        evaluation = found[Topic.EVALUATIONS][rid]

        def ms(a: Event, b: Event) -> float:
            return (b.occurred_at - a.occurred_at).total_seconds() * 1000

        hops["ingestion"].append(ms(request, accepted))
        hops["embedding"].append(ms(accepted, embedded))
        hops["inference"].append(ms(embedded, prediction))
        hops["evaluator"].append(ms(prediction, evaluation))
        hops["e2e"].append(ms(request, prediction))
    return hops


def tracing_overhead(requests: int, rate: float) -> dict[str, object]:
    """Run the load without and with span export; return both runs' latencies."""
    runs: dict[str, dict[str, list[float]]] = {}
    for name, dashboard in (("export_off", "none"), ("export_on", "phoenix")):
        with running_platform(reuse=False, dashboard=dashboard) as (endpoints, _):
            runs[name] = asyncio.run(run_chain(endpoints, requests, rate))
    figures: dict[str, object] = {
        name: {
            "e2e_p50_ms": round(pct(hops["e2e"], 50), 1),
            "e2e_p99_ms": round(pct(hops["e2e"], 99), 1),
            "hop_p50_ms": {hop: round(pct(v, 50), 1) for hop, v in hops.items() if hop != "e2e"},
        }
        for name, hops in runs.items()
    }
    off, on = runs["export_off"]["e2e"], runs["export_on"]["e2e"]
    figures["overhead_p50_ms"] = round(pct(on, 50) - pct(off, 50), 1)
    figures["overhead_p99_ms"] = round(pct(on, 99) - pct(off, 99), 1)
    figures["ratio_p50"] = round(pct(on, 50) / pct(off, 50), 3)
    print(
        f"tracing: e2e p50 {pct(off, 50):.1f} ms without export, {pct(on, 50):.1f} ms "
        f"exporting to Phoenix (ratio {figures['ratio_p50']}); p99 {pct(off, 99):.1f} / "
        f"{pct(on, 99):.1f} ms"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second")
    parser.add_argument(
        "--tracing-overhead", action="store_true", help="compare without and with span export"
    )
    args = parser.parse_args()
    if args.tracing_overhead:
        print(json.dumps({"tracing": tracing_overhead(args.requests, args.rate)}))
        return
    with running_platform() as (endpoints, _):
        hops = asyncio.run(run_chain(endpoints, args.requests, args.rate))
        kafka = asyncio.run(
            kafka_hop_ms(endpoints.kafka_bootstrap_servers, security=client_security(endpoints))
        )
    encode = encode_ms()
    baseline_p50 = 3 * statistics.median(kafka) + statistics.median(encode)
    figures = {
        "requests": args.requests,
        "rate_per_s": args.rate,
        "e2e_p50_ms": round(pct(hops["e2e"], 50), 1),
        "e2e_p99_ms": round(pct(hops["e2e"], 99), 1),
        "hops": {
            hop: {"p50_ms": round(pct(v, 50), 1), "p99_ms": round(pct(v, 99), 1)}
            for hop, v in hops.items()
            if hop != "e2e"
        },
        "baseline": {
            "kafka_hop_p50_ms": round(statistics.median(kafka), 2),
            "kafka_hop_p99_ms": round(pct(kafka, 99), 2),
            "encode_query_p50_ms": round(statistics.median(encode), 2),
            "floor_p50_ms": round(baseline_p50, 1),
        },
        "ratio": round(pct(hops["e2e"], 50) / baseline_p50, 2),
    }
    for hop, f in figures["hops"].items():  # type: ignore[union-attr]
        print(f"{hop:<10} p50 {f['p50_ms']:>8.1f} ms   p99 {f['p99_ms']:>8.1f} ms")
    print(
        f"end-to-end p50 {figures['e2e_p50_ms']} ms, p99 {figures['e2e_p99_ms']} ms; floor "
        f"(3 raw Kafka hops + 1 raw encode) {baseline_p50:.1f} ms; ratio {figures['ratio']}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

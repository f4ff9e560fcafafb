"""What TLS + SASL cost on the request path: one raw Kafka hop, plaintext against secure.

Usage: python tests/bench/secure_hop.py [--samples N] [--rounds R] [--pace-ms MS]

Starts two embedded brokers from `pillars up`'s code, side by side on this machine: a plain
one and a `pillars up --secure` one (SASL_SSL, SCRAM-SHA-512, TLS from its generated CA,
the topic map's ACLs). On each, one service's principal produces to a topic it owns
(ingestion -> chunks, acks=all, idempotent, as the services do) and the next one's principal
reads it (embedding, a group-less consumer); the time from send to receipt is one hop. The
two brokers are measured in alternating rounds, so both see the same machine. Last line:
one JSON object (p50/p99 of each, ms, and secure / plaintext ratios).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from benchkit import pct

from shared.contracts.topics import Topic, topic_name
from shared.kit.kafka_security import kafka_client_options
from shared.kit.settings import cache_dir
from shared.kit.topic_admin import ensure_topics
from shared.platform.acls import ADMIN, platform_acls, principal_of
from shared.platform.runtime.kafka import EmbeddedKafka
from shared.platform.runtime.kafka_jars import resolve_kafka_jars
from shared.platform.runtime.kafka_secure import BrokerSecurity, apply_acls

TOPIC = topic_name(Topic.CHUNKS)


class Hop:
    """A producer as ingestion and a consumer as embedding on one broker."""

    def __init__(self, bootstrap: str, producer: dict[str, Any], consumer: dict[str, Any]):
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **producer
        )
        self.consumer = AIOKafkaConsumer(
            TOPIC, bootstrap_servers=bootstrap, group_id=None, **consumer
        )
        self.marker = uuid.uuid4().hex.encode()
        self.sent = 0

    async def start(self) -> None:
        await self.consumer.start()
        await self.producer.start()
        await self.consumer.seek_to_end()

    async def stop(self) -> None:
        await self.producer.stop()
        await self.consumer.stop()

    async def measure(self, samples: int, pace_s: float) -> list[float]:
        latencies = []
        for _ in range(samples):
            key = self.marker + str(self.sent).encode()
            self.sent += 1
            started = time.perf_counter()
            await self.producer.send_and_wait(TOPIC, b"{}", key=key)
            async for record in self.consumer:
                if record.key == key:
                    latencies.append((time.perf_counter() - started) * 1000)
                    break
            if pace_s:
                await asyncio.sleep(pace_s)
        return latencies


async def _run(
    plain: str, secure: str, security: BrokerSecurity, args: argparse.Namespace
) -> dict[str, float]:
    admin = security.client_settings(ADMIN)
    await apply_acls(secure, platform_acls(), admin)
    await ensure_topics(plain, "pillars", 3)
    await ensure_topics(secure, "pillars", 3, security=admin)
    hops = {
        "plaintext": Hop(plain, {}, {}),
        "secure": Hop(
            secure,
            kafka_client_options(security.client_settings(principal_of("ingestion"))),
            kafka_client_options(security.client_settings(principal_of("embedding"))),
        ),
    }
    for hop in hops.values():
        await hop.start()
    found: dict[str, list[float]] = {name: [] for name in hops}
    try:
        for hop in hops.values():  # warm-up: connections, metadata, the JIT
            await hop.measure(50, 0)
        for round_ in range(args.rounds):
            order = list(hops) if round_ % 2 == 0 else list(reversed(hops))
            for name in order:
                found[name] += await hops[name].measure(args.samples, args.pace_ms / 1000)
    finally:
        for hop in hops.values():
            await hop.stop()
    result: dict[str, float] = {}
    for name, values in found.items():
        result[f"{name}_hop_p50_ms"] = round(pct(values, 50), 3)
        result[f"{name}_hop_p99_ms"] = round(pct(values, 99), 3)
        print(f"{name:>9}: {len(values)} hops, p50 {pct(values, 50):.2f} ms, "
              f"p99 {pct(values, 99):.2f} ms")  # fmt: skip
    for q in ("p50", "p99"):
        ratio = result[f"secure_hop_{q}_ms"] / result[f"plaintext_hop_{q}_ms"]
        result[f"secure_hop_{q}_ratio"] = round(ratio, 3)
    result["samples_each"] = args.samples * args.rounds
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100, help="hops per round and broker")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds")
    parser.add_argument("--pace-ms", type=float, default=0.0, help="pause after each hop")
    args = parser.parse_args()
    jars = resolve_kafka_jars(cache_dir() / "kafka-jars")
    root = Path(tempfile.mkdtemp(prefix="pillars-secure-hop-"))
    security = BrokerSecurity(root / "secure" / "secure")
    brokers = [
        EmbeddedKafka(root / "plain", jars),
        EmbeddedKafka(root / "secure", jars, security=security),
    ]
    try:
        plain, secure = (broker.start() for broker in brokers)
        result = asyncio.run(_run(plain, secure, security, args))
    finally:
        for broker in brokers:
            broker.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

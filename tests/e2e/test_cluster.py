"""The platform on an embedded three-broker KRaft cluster (replication 3, min.insync.replicas
2): the whole chain answers, and a broker SIGKILLed under load (and brought back by `pillars
up`) loses nothing, answers no request twice differently, and misses or doubles no chunk."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts.topics import Topic, topic_name
from shared.kit.settings import bootstrap_list
from tests.chaos.oracle import answered, document, expected_chunks, read_all
from tests.e2e.conftest import RunningPlatform, pillars_up

pytestmark = pytest.mark.cluster

TENANT = "cluster"
DOCUMENTS = 12
REQUESTS = 150
RATE_PER_S = 10.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    env = {"PILLARS_DASHBOARD": "none", "PILLARS_SCALER_BACKEND": "dry-run"}
    with pillars_up(tmp_path_factory.mktemp("pillars-cluster"), env, "--brokers", "3") as up:
        yield up


def broker_pid(data_dir: Path, node: int) -> int:
    """Return the JVM of the cluster's node `node`."""
    for proc in psutil.process_iter(["cmdline"]):
        command = " ".join(proc.info["cmdline"] or ())
        if "kafka.Kafka" in command and f"kafka-cluster-3/node-{node}/" in command:
            return proc.pid
    raise AssertionError(f"no JVM for broker {node} under {data_dir}")


async def send_load(producer: AIOKafkaProducer, kill: asyncio.Event) -> None:
    """Requests at a steady rate from a plain client (no event_id, as kcat sends them)."""
    started = time.monotonic()
    for i in range(REQUESTS):
        if i == REQUESTS // 3:
            kill.set()
        body = {"tenant": TENANT, "request_id": f"r-{i}", "query": f"fact{i % 40}?"}
        await producer.send_and_wait(
            topic_name(Topic.REQUESTS), json.dumps(body).encode(), key=f"{TENANT}/r-{i}".encode()
        )
        await asyncio.sleep(max(0.0, started + (i + 1) / RATE_PER_S - time.monotonic()))


async def test_a_broker_killed_under_load_loses_nothing(cluster: RunningPlatform) -> None:
    bootstrap = bootstrap_list(cluster.endpoints.kafka_bootstrap_servers)
    assert len(bootstrap) == 3
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    kill = asyncio.Event()
    try:
        for i in range(DOCUMENTS):
            await producer.send_and_wait(
                topic_name(Topic.DOCUMENTS),
                json.dumps(document(TENANT, i)).encode(),
                key=f"{TENANT}/doc-{i}".encode(),
            )
        load = asyncio.create_task(send_load(producer, kill))
        await kill.wait()
        victim = broker_pid(cluster.data_dir, 2)
        os.kill(victim, signal.SIGKILL)  # `pillars up` notices and starts it again
        await load
    finally:
        await producer.stop()
    predictions = await read_all(
        bootstrap, Topic.PREDICTIONS, TENANT, lambda e: len(answered(e)) >= REQUESTS, wait_s=180
    )
    seen = answered(predictions)
    lost = [f"r-{i}" for i in range(REQUESTS) if f"r-{i}" not in seen]
    conflicting = {r: c for r, c in seen.items() if len(c) > 1}
    assert not lost, f"{len(lost)} requests without a prediction: {lost[:10]}"
    assert not conflicting, conflicting
    assert broker_pid(cluster.data_dir, 2) != victim  # `pillars up` brought it back
    assert "Kafka broker 2 crashed; restarted" in (cluster.data_dir / "pillars-up.out").read_text()

    chunked = await read_all(
        bootstrap, Topic.CHUNKS, TENANT, lambda e: len(expected_chunks(e)) >= DOCUMENTS, wait_s=60
    )
    expected = expected_chunks(chunked)
    assert len(expected) == DOCUMENTS
    conn = await asyncpg.connect(cluster.endpoints.database_url)
    try:
        deadline = time.monotonic() + 120
        while True:
            rows = await conn.fetch(
                "SELECT document_id, chunk_id::text AS chunk_id FROM pillars_chunks "
                "WHERE tenant = $1",
                TENANT,
            )
            indexed: dict[str, set[str]] = defaultdict(set)
            for row in rows:
                indexed[row["document_id"]].add(row["chunk_id"])
            if indexed == expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    finally:
        await conn.close()
    missing = {d: ids - indexed.get(d, set()) for d, ids in expected.items()}
    assert not any(missing.values()), f"chunks missing from the index: {missing}"
    assert dict(indexed) == expected  # nothing doubled or left over

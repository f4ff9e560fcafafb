"""Exactly-once hops on the session's broker: a hop killed mid-transaction publishes its
output once, as a `read_committed` reader sees it."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections import Counter
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from shared.contracts.events import DocumentChanged
from shared.contracts.topics import Topic, topic_name
from shared.kit.topic_admin import ensure_topics
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints
from shared.platform.runtime.supervisor import service_env

ROOT = Path(__file__).parents[2]
DOCUMENTS = ["doc-0", "doc-1", "doc-2"]


async def chunked_documents(
    bootstrap: str, topic: str, tenant: str, isolation: str
) -> Counter[str]:
    """Count the chunk messages of `tenant` per document, reading `topic` to its end."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level=isolation,
    )
    await consumer.start()
    seen: Counter[str] = Counter()
    try:
        async with asyncio.timeout(20):
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        event = json.loads(record.value or b"{}")
                        if event.get("tenant") == tenant:
                            seen[event["document_id"]] += 1
                if not batches:
                    return seen
    finally:
        await consumer.stop()


async def documents_appear(
    bootstrap: str, topic: str, tenant: str, documents: set[str], timeout_s: float
) -> None:
    """Return once a `read_committed` reader has seen every one of `documents`' chunks."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    seen: set[str] = set()
    try:
        async with asyncio.timeout(timeout_s):
            async for record in consumer:
                event = json.loads(record.value or b"{}")
                if event.get("tenant") == tenant:
                    seen.add(event["document_id"])
                if seen >= documents:
                    return
    finally:
        await consumer.stop()


async def test_a_hop_killed_mid_transaction_publishes_its_output_exactly_once(
    endpoints: Endpoints, tenant: str, tmp_path: Path
) -> None:
    bootstrap = endpoints.kafka_bootstrap_servers
    prefix = f"eos{uuid.uuid4().hex[:8]}"  # topics and a consumer group of this test's own
    await ensure_topics(bootstrap, prefix, partitions=1)
    env = service_env(
        bootstrap,
        endpoints.database_url,
        {"PILLARS_EXACTLY_ONCE": "true", "PILLARS_TOPIC_PREFIX": prefix},
    )
    hop = [sys.executable, "-m", "tests.integration.exactly_once_hop"]
    async with PillarsClient(bootstrap, prefix=prefix, source="/tests") as client:
        for document in DOCUMENTS:
            await client.publish(
                Topic.DOCUMENTS,
                DocumentChanged(tenant=tenant, document_id=document, text="words " * 100),
            )
    with (tmp_path / "hop.log").open("w") as log:
        crashing = await asyncio.create_subprocess_exec(
            *hop, env=env | {"EOS_CRASH_ON": "doc-1"}, cwd=ROOT, stdout=log, stderr=log
        )
        async with asyncio.timeout(60):
            code = await crashing.wait()
        assert code == -9, (tmp_path / "hop.log").read_text()[-3000:]
    chunks = topic_name(Topic.CHUNKS, prefix)
    uncommitted = await chunked_documents(bootstrap, chunks, tenant, "read_uncommitted")
    # The crash struck with doc-1's output written and its transaction open.
    assert uncommitted == {"doc-0": 1, "doc-1": 1}
    assert await chunked_documents(bootstrap, chunks, tenant, "read_committed") == {"doc-0": 1}

    with (tmp_path / "hop.log").open("a") as log:
        restarted = await asyncio.create_subprocess_exec(
            *hop, env=env, cwd=ROOT, stdout=log, stderr=log
        )
        try:  # the killed member's session expires first (10 s)
            await documents_appear(bootstrap, chunks, tenant, set(DOCUMENTS), timeout_s=60)
        finally:
            restarted.terminate()
            async with asyncio.timeout(30):
                await restarted.wait()
    assert await chunked_documents(bootstrap, chunks, tenant, "read_committed") == dict.fromkeys(
        DOCUMENTS, 1
    )
    # The aborted copy is still in the log: only read_committed hides it.
    assert (await chunked_documents(bootstrap, chunks, tenant, "read_uncommitted"))["doc-1"] == 2

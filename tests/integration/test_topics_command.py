"""`pillars topics` (what compose's and Kubernetes' topic jobs run) against the real broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts.topics import all_topic_names
from shared.platform.cli import main
from shared.platform.runtime.stack import Endpoints


async def test_topics_command_creates_every_topic_once(
    endpoints: Endpoints, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PILLARS_KAFKA_BOOTSTRAP_SERVERS", endpoints.kafka_bootstrap_servers)
    monkeypatch.setenv("PILLARS_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("PILLARS_TOPIC_PARTITIONS", "2")

    assert await asyncio.to_thread(main, ["topics"]) == 0
    first = capsys.readouterr().out
    assert await asyncio.to_thread(main, ["topics"]) == 0  # again: nothing new
    again = capsys.readouterr().out

    expected = all_topic_names(prefix)
    assert f"topics: {len(expected)} created" in first
    assert "topics: 0 created" in again
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    await admin.start()
    try:
        for _ in range(40):  # the metadata of new topics reaches every listener shortly after
            described = await admin.describe_topics(expected)
            partitions = {t["topic"]: len(t["partitions"]) for t in described}
            if all(partitions.values()):
                break
            await asyncio.sleep(0.25)
    finally:
        await admin.close()
    assert partitions == dict.fromkeys(expected, 2)

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


async def test_topics_are_verified_and_drift_is_reported_not_changed(
    endpoints: Endpoints, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PILLARS_KAFKA_BOOTSTRAP_SERVERS", endpoints.kafka_bootstrap_servers)
    monkeypatch.setenv("PILLARS_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("PILLARS_TOPIC_PARTITIONS", "2")
    assert await asyncio.to_thread(main, ["topics", "--check"]) == 0
    for _ in range(40):  # new topics' metadata and configs reach every listener shortly after
        if await asyncio.to_thread(main, ["topics", "--check"]) == 0:
            break
        await asyncio.sleep(0.25)
    capsys.readouterr()
    monkeypatch.setenv("PILLARS_TOPIC_PARTITIONS", "4")  # the settings changed since
    monkeypatch.setenv("PILLARS_DLQ_RETENTION_MS", "86400000")
    assert await asyncio.to_thread(main, ["topics", "--check"]) == 1
    out = capsys.readouterr().out
    assert "topics: 0 created" in out
    assert f"{prefix}.requests.v1: 2 partitions, settings say 4" in out
    assert f"{prefix}.requests.v1.dlq: retention.ms=" in out
    assert await asyncio.to_thread(main, ["topics"]) == 0  # reported, not an error by default
    capsys.readouterr()
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap_servers)
    await admin.start()
    try:
        [described] = await admin.describe_topics([f"{prefix}.requests.v1"])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 2  # nothing was changed


async def test_a_replication_factor_above_the_brokers_is_refused_with_the_reason(
    endpoints: Endpoints, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PILLARS_KAFKA_BOOTSTRAP_SERVERS", endpoints.kafka_bootstrap_servers)
    monkeypatch.setenv("PILLARS_TOPIC_PREFIX", f"p{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("PILLARS_TOPIC_REPLICATION_FACTOR", "3")
    assert await asyncio.to_thread(main, ["topics"]) == 2
    assert "replication factor 3 exceeds the cluster's 1 broker(s)" in capsys.readouterr().err


@pytest.mark.cluster
async def test_on_a_three_broker_cluster_topics_get_three_replicas_and_two_in_sync(
    kafka_cluster: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PILLARS_KAFKA_BOOTSTRAP_SERVERS", kafka_cluster)  # a bootstrap list
    monkeypatch.setenv("PILLARS_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("PILLARS_TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("PILLARS_TOPIC_MIN_INSYNC_REPLICAS", "2")
    assert await asyncio.to_thread(main, ["topics"]) == 0
    for _ in range(40):  # idempotent, and no drift once the metadata has spread
        if await asyncio.to_thread(main, ["topics", "--check"]) == 0:
            break
        await asyncio.sleep(0.25)
    out = capsys.readouterr().out
    assert out.rstrip().endswith("topics: 0 created on " + kafka_cluster)
    monkeypatch.setenv("PILLARS_TOPIC_REPLICATION_FACTOR", "4")
    assert await asyncio.to_thread(main, ["topics"]) == 2
    assert "exceeds the cluster's 3 broker(s)" in capsys.readouterr().err
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_cluster.split(","))
    await admin.start()
    try:
        [described] = await admin.describe_topics([f"{prefix}.predictions.v1"])
    finally:
        await admin.close()
    assert all(len(p["replicas"]) == 3 for p in described["partitions"])

"""The embedded Kafka broker: starts, keeps messages across a restart, leaves no JVM behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.kit.settings import cache_dir
from shared.platform.runtime.kafka import EmbeddedKafka
from shared.platform.runtime.kafka_jars import resolve_kafka_jars
from shared.platform.runtime.keeper import InfrastructureKeeper

pytestmark = pytest.mark.integration

TOPIC = "runtime-test"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kafka_jars() -> Path:
    return resolve_kafka_jars(cache_dir() / "kafka-jars")


def java_children(data_dir: Path) -> list[psutil.Process]:
    """Java processes of this test's broker (other tests' brokers may run meanwhile)."""
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if p.name() == "java" and str(data_dir) in " ".join(p.cmdline())
    ]


def gone(pid: int) -> bool:
    """Whether `pid` ended (an unreaped zombie counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def read_first(bootstrap: str) -> bytes:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(TOPIC, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        message = await asyncio.wait_for(consumer.getone(), timeout=20)
        assert message.value is not None
        return message.value
    finally:
        await consumer.stop()


async def test_broker_keeps_messages_across_restart(tmp_path: Path, kafka_jars: Path) -> None:
    kafka = EmbeddedKafka(tmp_path / "kafka", kafka_jars)
    try:
        bootstrap = kafka.start()
        first_pid = kafka.pid
        assert first_pid is not None
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(TOPIC, b"kept")
        finally:
            await producer.stop()
        assert await read_first(bootstrap) == b"kept"

        kafka.stop()
        assert gone(first_pid)
        assert java_children(tmp_path) == []

        assert kafka.start() == bootstrap
        assert await read_first(bootstrap) == b"kept"
    finally:
        kafka.stop()
    assert java_children(tmp_path) == []


def test_broker_dies_with_a_killed_parent(tmp_path: Path, kafka_jars: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from shared.platform.runtime.kafka import EmbeddedKafka

        kafka = EmbeddedKafka(Path(sys.argv[1]), Path(sys.argv[2]))
        kafka.start()
        print(kafka.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "kafka"), str(kafka_jars)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        java_pid = int(parent.stdout.readline())
        assert not gone(java_pid)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 40
    while not gone(java_pid):
        assert time.monotonic() < deadline, "the broker outlived its killed parent"
        time.sleep(0.2)


async def test_the_keeper_restarts_a_killed_broker_with_its_messages(
    tmp_path: Path, kafka_jars: Path
) -> None:
    kafka = EmbeddedKafka(tmp_path / "kafka", kafka_jars)
    keeper = InfrastructureKeeper({"the Kafka broker": kafka}, backoff_s=0.5)
    try:
        bootstrap = kafka.start()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(TOPIC, b"kept")
        finally:
            await producer.stop()
        first_pid = kafka.pid
        assert first_pid is not None
        assert keeper.check() == []
        os.kill(first_pid, signal.SIGKILL)
        deadline = time.monotonic() + 120
        restarted = []
        while not restarted:
            assert time.monotonic() < deadline, "the keeper did not bring the broker back"
            restarted = await asyncio.to_thread(keeper.check)
            await asyncio.sleep(0.2)
        assert restarted[0].name == "the Kafka broker"
        assert kafka.pid not in (None, first_pid)
        assert await read_first(bootstrap) == b"kept"
    finally:
        kafka.stop()

"""Deferred commits: offsets commit after handling, coalesced, and before partitions move."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError
from faststream.kafka.message import KafkaAckableMessage

from shared.kit.commits import (
    COMMIT_INTERVAL_S,
    DeferredCommits,
    commit_after_handling,
    commits_of,
    flush_partitions,
)

P0, P1, P2 = (TopicPartition("t", p) for p in range(3))


class Consumer:
    """aiokafka's consumer as the committer uses it."""

    def __init__(self, *held: TopicPartition, failures: int = 0) -> None:
        self.held = set(held)
        self.commits: list[dict[TopicPartition, int]] = []
        self.failures = failures

    def assignment(self) -> set[TopicPartition]:
        return self.held

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError("coordinator away")
        self.commits.append(dict(offsets))


def record(tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


async def test_handled_offsets_commit_once_after_the_interval_coalesced() -> None:
    consumer = Consumer(P0, P1)
    commits = DeferredCommits(consumer, interval_s=0.05)
    commits.handled([record(P0, 4)])
    commits.handled([record(P0, 5), record(P1, 9)])
    assert consumer.commits == []  # nothing yet: handled is only noted
    await asyncio.sleep(0.15)
    assert consumer.commits == [{P0: 6, P1: 10}]  # the next offset to read, one request
    assert commits.pending == {}
    commits.handled([record(P0, 6)])  # noted after the commit: a timer again
    await asyncio.sleep(0.15)
    assert consumer.commits[-1] == {P0: 7}


async def test_flush_commits_only_the_partitions_asked_and_drops_those_no_longer_held() -> None:
    consumer = Consumer(P0, P1)
    commits = DeferredCommits(consumer, interval_s=60)
    commits.handled([record(P0, 1), record(P1, 2), record(P2, 3)])
    await commits.flush([P1, P2])  # P2 moved to another consumer: its owner redoes it
    assert consumer.commits == [{P1: 3}]
    assert commits.pending == {P0: 2}
    await commits.close()
    assert consumer.commits == [{P1: 3}, {P0: 2}]


async def test_a_failed_commit_keeps_its_offsets_for_the_next_interval() -> None:
    consumer = Consumer(P0, failures=1)
    commits = DeferredCommits(consumer, interval_s=60)
    commits.handled([record(P0, 7)])
    with pytest.raises(KafkaConnectionError):
        await commits.flush()
    assert commits.pending == {P0: 8}
    commits.handled([record(P0, 3)])  # an older offset never moves the commit back
    await commits.flush()
    assert consumer.commits == [{P0: 8}]
    await commits.close()


class StoppingConsumer(Consumer):
    def __init__(self, *held: TopicPartition) -> None:
        super().__init__(*held)
        self.events: list[str] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await super().commit(offsets)
        self.events.append("commit")

    async def stop(self) -> None:
        self.events.append("stop")


async def test_a_consumer_commits_what_it_handled_before_it_stops_and_before_a_rebalance() -> None:
    stopping, moving = StoppingConsumer(P0), StoppingConsumer(P1, P2)
    commits_of(stopping).handled([record(P0, 1)])  # type: ignore[arg-type]
    await stopping.stop()
    assert stopping.events == ["commit", "stop"]
    assert stopping.commits == [{P0: 2}]
    commits_of(moving).handled([record(P1, 4), record(P2, 5)])  # type: ignore[arg-type]
    await flush_partitions({P2})  # what the rebalance listener does for revoked partitions
    assert moving.commits == [{P2: 6}]
    await moving.stop()
    assert moving.commits == [{P2: 6}, {P1: 5}]


class BatchConsumer(AIOKafkaConsumer):
    """An aiokafka consumer (as the message checks) that only records its commits."""

    def __init__(self) -> None:  # no connection: nothing of aiokafka's own is used
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {P0, P1}

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        self.commits.append(dict(offsets or {}))

    async def stop(self) -> None:
        return None


async def test_a_handled_batch_notes_every_record_and_commits_them_in_one_request() -> None:
    consumer = BatchConsumer()
    batch = (record(P0, 2), record(P1, 7), record(P0, 1))

    async def original(records: tuple[ConsumerRecord[bytes, bytes], ...]) -> KafkaAckableMessage:
        return KafkaAckableMessage(
            raw_message=records, body=[r.value for r in records], consumer=consumer
        )

    message = await commit_after_handling(batch, original)
    await message.ack()
    assert consumer.commits == []  # noted, committed within the interval
    await asyncio.sleep(COMMIT_INTERVAL_S + 0.3)
    assert consumer.commits == [{P0: 3, P1: 8}]
    await consumer.stop()  # commits what is left (nothing) first
    assert consumer.commits == [{P0: 3, P1: 8}]

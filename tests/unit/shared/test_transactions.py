"""Exactly-once hops: a hop's publishes and its offsets commit in its partition's transaction."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, ProducerFenced

from shared.contracts.topics import Topic
from shared.kit.commits import DeferredCommits, commits_of
from shared.kit.messaging import consumer_options
from shared.kit.settings import PillarsSettings
from shared.kit.transactions import (
    Hop,
    PartitionProducers,
    hop_producer,
    publishing_for,
    start_fenced,
    transactional_id,
)

P0, P1 = TopicPartition("in", 0), TopicPartition("in", 1)
GROUP = "pillars.inference.requests.embedded"


class Producer:
    """aiokafka's transactional producer as a hop uses it: a log of what it was asked."""

    def __init__(self, transactional_id: str, *, commit_error: Exception | None = None) -> None:
        self.transactional_id = transactional_id
        self.calls: list[Any] = []
        self.in_transaction = False
        self.commit_error = commit_error

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")

    async def begin_transaction(self) -> None:
        assert not self.in_transaction
        self.in_transaction = True
        self.calls.append("begin")

    async def send_offsets_to_transaction(
        self, offsets: dict[TopicPartition, int], group_id: str
    ) -> None:
        self.calls.append(("offsets", dict(offsets), group_id))

    async def commit_transaction(self) -> None:
        self.in_transaction = False
        if self.commit_error is not None:
            raise self.commit_error
        self.calls.append("commit")

    async def abort_transaction(self) -> None:
        self.in_transaction = False
        self.calls.append("abort")

    @property
    def _txn_manager(self) -> Any:
        return type("Txn", (), {"is_in_transaction": lambda _: self.in_transaction})()


class Consumer:
    """aiokafka's consumer as a hop uses it (its deferred commits, its position)."""

    def __init__(self, *held: TopicPartition) -> None:
        self.held = set(held)
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.committed_offsets: dict[TopicPartition, int] = {}
        self.paused: set[TopicPartition] = set()
        self.log: list[str] = []

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused |= set(partitions)
        self.log.append("pause")

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused -= set(partitions)
        self.log.append("resume")

    async def committed(self, partition: TopicPartition) -> int | None:
        self.log.append(f"committed {partition.partition}")
        return self.committed_offsets.get(partition)

    def assignment(self) -> set[TopicPartition]:
        return self.held

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    async def stop(self) -> None:
        pass


def record(tp: TopicPartition, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


async def fenced(
    *partitions: TopicPartition, commit_error: Exception | None = None
) -> tuple[PartitionProducers, dict[str, Producer]]:
    made: dict[str, Producer] = {}

    def make(tid: str) -> Any:
        made[tid] = Producer(tid, commit_error=commit_error)
        return made[tid]

    producers = PartitionProducers(GROUP, make)
    await producers.fence(partitions)
    return producers, made


async def test_a_new_partition_stays_paused_until_fenced_then_starts_at_its_final_offset() -> None:
    consumer = Consumer(P0, P1)
    consumer.committed_offsets = {P0: 12}  # P1: never committed, the reset policy decides
    made: dict[str, Producer] = {}

    def make(tid: str) -> Any:
        made[tid] = Producer(tid)
        consumer.log.append(f"fence {tid[-1]}")
        return made[tid]

    await start_fenced(consumer, PartitionProducers(GROUP, make), [P0, P1])  # type: ignore[arg-type]
    # The offset is read only after the fence: a transaction the previous owner was still
    # completing has moved it by then.
    assert consumer.log == ["pause", "fence 0", "fence 1", "committed 0", "committed 1", "resume"]
    assert consumer.seeks == [(P0, 12)]
    assert consumer.paused == set()


def test_a_partitions_transactional_id_is_its_group_and_number() -> None:
    assert transactional_id(GROUP, P1) == f"{GROUP}.1"


async def test_fencing_starts_one_producer_per_newly_assigned_partition_and_release_stops_it() -> (
    None
):
    producers, made = await fenced(P0, P1)
    assert sorted(made) == [f"{GROUP}.0", f"{GROUP}.1"]
    assert all(p.calls == ["start"] for p in made.values())  # InitProducerId: the fence
    await producers.fence([P0])  # still ours: not restarted
    assert made[f"{GROUP}.0"].calls == ["start"]
    await producers.release([P0])
    assert made[f"{GROUP}.0"].calls == ["start", "stop"]
    assert await producers.get(P0) is None
    assert await producers.get(P1) is made[f"{GROUP}.1"]


async def test_a_hops_publish_opens_its_partitions_transaction_and_the_ack_commits_offsets() -> (
    None
):
    producers, made = await fenced(P0)
    consumer = Consumer(P0)
    hop = Hop(producers, consumer, (record(P0, 7),))  # type: ignore[arg-type]
    chosen = await hop.producer_for(None)
    assert chosen is made[f"{GROUP}.0"]
    assert await hop.producer_for(None) is chosen  # one transaction for all its outputs
    await hop.commit()
    assert chosen.calls == ["start", "begin", ("offsets", {P0: 8}, GROUP), "commit"]
    assert await hop.producer_for(None) is None  # done: a late publish is not in it


async def test_a_batchs_outputs_go_to_their_causes_partitions_each_with_its_offsets() -> None:
    producers, made = await fenced(P0, P1)
    consumer = Consumer(P0, P1)
    hop = Hop(producers, consumer, (record(P0, 3), record(P1, 5), record(P0, 4)))  # type: ignore[arg-type]
    assert await hop.producer_for(P1) is made[f"{GROUP}.1"]
    assert await hop.producer_for(P0) is made[f"{GROUP}.0"]
    await hop.commit()
    assert ("offsets", {P0: 5}, GROUP) in made[f"{GROUP}.0"].calls
    assert ("offsets", {P1: 6}, GROUP) in made[f"{GROUP}.1"].calls


async def test_a_partition_that_published_nothing_commits_in_the_open_transaction() -> None:
    producers, made = await fenced(P0, P1)
    hop = Hop(producers, Consumer(P0, P1), (record(P0, 3), record(P1, 5)))  # type: ignore[arg-type]
    await hop.producer_for(P0)
    await hop.commit()
    assert ("offsets", {P0: 4, P1: 6}, GROUP) in made[f"{GROUP}.0"].calls
    assert made[f"{GROUP}.1"].calls == ["start"]


async def test_a_hop_that_published_nothing_commits_as_before_deferred() -> None:
    producers, made = await fenced(P0)
    consumer = Consumer(P0)
    hop = Hop(producers, consumer, (record(P0, 9),))  # type: ignore[arg-type]
    await hop.commit()
    assert made[f"{GROUP}.0"].calls == ["start"]
    assert commits_of(consumer).pending == {P0: 10}  # type: ignore[arg-type]


async def test_a_transactional_commit_drops_older_deferred_offsets_so_none_lands_after_it() -> None:
    producers, _ = await fenced(P0)
    consumer = Consumer(P0)
    commits: DeferredCommits = commits_of(consumer)  # type: ignore[arg-type]
    commits.handled([record(P0, 1)])  # a message that published nothing
    hop = Hop(producers, consumer, (record(P0, 2),))  # type: ignore[arg-type]
    await hop.producer_for(None)
    await hop.commit()
    assert commits.pending == {}
    await commits.flush()
    assert consumer.commits == []  # offset 2 would have gone back behind the transaction's 3


async def test_a_failed_handler_aborts_the_transaction() -> None:
    producers, made = await fenced(P0)
    hop = Hop(producers, Consumer(P0), (record(P0, 7),))  # type: ignore[arg-type]
    await hop.producer_for(None)
    await hop.abort()
    assert made[f"{GROUP}.0"].calls == ["start", "begin", "abort"]


async def test_a_commit_that_fails_rewinds_the_partition_so_the_message_is_redone() -> None:
    producers, made = await fenced(P0, commit_error=KafkaConnectionError("away"))
    consumer = Consumer(P0)
    hop = Hop(producers, consumer, (record(P0, 7), record(P0, 8)))  # type: ignore[arg-type]
    await hop.producer_for(None)
    await hop.commit()
    assert consumer.seeks == [(P0, 7)]
    assert made[f"{GROUP}.0"].calls[-1] == "abort"


async def test_a_fenced_commit_leaves_the_partition_to_its_new_owner() -> None:
    producers, _ = await fenced(P0, commit_error=ProducerFenced())
    consumer = Consumer(P0)
    hop = Hop(producers, consumer, (record(P0, 7),))  # type: ignore[arg-type]
    await hop.producer_for(None)
    await hop.commit()
    assert consumer.seeks == []


async def test_a_hop_waits_for_its_partitions_fence_before_publishing() -> None:
    gate = asyncio.Event()

    class SlowStart(Producer):
        async def start(self) -> None:
            await gate.wait()
            await super().start()

    producers = PartitionProducers(GROUP, lambda tid: SlowStart(tid))  # type: ignore[arg-type,return-value]
    fencing = asyncio.create_task(producers.fence([P0]))
    await asyncio.sleep(0)
    hop = Hop(producers, Consumer(P0), (record(P0, 1),))  # type: ignore[arg-type]
    choosing = asyncio.create_task(hop.producer_for(None))
    await asyncio.sleep(0.01)
    assert not choosing.done()
    gate.set()
    async with asyncio.timeout(1):
        chosen = await choosing
        await fencing
    assert chosen is not None
    assert chosen.calls == ["start", "begin"]  # type: ignore[attr-defined]


async def test_outside_a_hop_publishes_go_through_the_brokers_own_producer() -> None:
    assert await hop_producer() is None
    with publishing_for("in", 1):
        assert await hop_producer() is None


def test_consumers_read_committed_only_with_exactly_once() -> None:
    on = PillarsSettings(kafka_bootstrap_servers="k:9092", exactly_once=True)
    off = PillarsSettings(kafka_bootstrap_servers="k:9092")
    isolation = [
        consumer_options(s, "inference", Topic.REQUESTS_EMBEDDED)["isolation_level"]
        for s in (on, off)
    ]
    assert isolation == ["read_committed", "read_uncommitted"]

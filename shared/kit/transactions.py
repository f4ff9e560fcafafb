"""Exactly-once hops (`PILLARS_EXACTLY_ONCE`): what a message causes and its offset commit
in one Kafka transaction, read downstream with `read_committed`.

A hop's publishes (its returned event, the kit's `publish`/`publish_in_trace`, a dead
letter) go through a transactional producer (`route_publishes`), and its ack, instead of
noting the offset for `DeferredCommits`, sends the offset to the same transaction and
commits it. A crash before the commit aborts the outputs with the offset: the next owner
redoes the message and its outputs appear once. Postgres effects stay idempotent.

One transactional producer per input partition, id `<consumer group>.<partition>` (Kafka
Streams' first exactly-once design): aiokafka's `send_offsets_to_transaction` sends
TxnOffsetCommit v0, which carries no group generation, so the broker cannot fence a
zombie's offset commit by generation (KIP-447); it fences by transactional id instead.
The owner of a partition starts its producer when the partition is assigned, with the
partition paused: `InitProducerId` aborts whatever transaction a previous owner (a killed
replica, one that lost the partition) left open, waits for one it was committing to
complete, and fences it from committing later. Only then is the committed offset final
(aiokafka's OffsetFetch v0-v5 cannot ask for stable offsets, KIP-447's `require_stable`,
and may return the offset from before a transaction still being completed: a duplicate),
so the consumer is moved to it (`start_fenced`) and resumed. A producer per partition also
means a killed replica's open transaction ends at once instead of after the transaction
timeout, during which `read_committed` readers of its outputs would stall.
Kafka 4 still serves the v0 transaction requests aiokafka 0.14 sends (checked against the
session's broker by `tests/integration/test_exactly_once.py`).

A message that published nothing commits its offset as before (`DeferredCommits`); one
that did drops the deferred offsets of its partitions first, so an older plain commit can
never land after (and behind) its transactional one. Broadcast subscribers (a group per
replica, nothing to redo) stay at-least-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Collection, Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from faststream.kafka.message import KafkaAckableMessage, KafkaMessage
from faststream.message import StreamMessage

from shared.kit.commits import commits_of
from shared.kit.faststream_seams import swap_ack
from shared.kit.records import records_of

__all__ = [
    "Hop",
    "PartitionProducers",
    "hop_producer",
    "publishing_for",
    "start_fenced",
    "transactional_id",
    "transactional_parser",
]

log = logging.getLogger(__name__)


def transactional_id(group_id: str, partition: TopicPartition) -> str:
    """Return the transactional id of `group_id`'s producer for `partition`: stable, so a
    new owner fences the old one (`pillars.inference.requests.embedded.2`)."""
    return f"{group_id}.{partition.partition}"


class PartitionProducers:
    """One consumer group's transactional producers in this process, one per input
    partition it holds; started (fencing the previous owner) when a partition is assigned."""

    def __init__(self, group_id: str, make: Callable[[str], AIOKafkaProducer]) -> None:
        self.group_id = group_id
        self._make = make
        self._held: dict[TopicPartition, asyncio.Future[AIOKafkaProducer]] = {}

    async def get(self, partition: TopicPartition) -> AIOKafkaProducer | None:
        """Return the producer of `partition` once it has fenced the previous owner; None
        when this process does not hold the partition."""
        starting = self._held.get(partition)
        return None if starting is None else await asyncio.shield(starting)

    async def fence(self, assigned: Collection[TopicPartition]) -> None:
        """Start a producer for each newly assigned partition; its `InitProducerId` aborts
        the previous owner's open transaction and fences it.

        aiokafka fetches the new partitions while this runs, so a hop of one waits for its
        producer (`get`) before it publishes anything.
        """
        for partition in sorted(assigned):
            if partition not in self._held:
                self._held[partition] = asyncio.ensure_future(self._start(partition))
        await asyncio.gather(*(self._held[p] for p in assigned))

    async def _start(self, partition: TopicPartition) -> AIOKafkaProducer:
        producer = self._make(transactional_id(self.group_id, partition))
        await producer.start()
        return producer

    async def release(self, revoked: Collection[TopicPartition]) -> None:
        """Stop the producers of `revoked` partitions (their next owner fences them anyway);
        a transaction still open is aborted."""
        for partition in revoked:
            starting = self._held.pop(partition, None)
            if starting is None:
                continue
            try:
                producer = await starting
            except KafkaError:
                continue
            with contextlib.suppress(KafkaError):
                if producer._txn_manager.is_in_transaction():  # aiokafka has no public flag
                    await producer.abort_transaction()
            await producer.stop()

    async def close(self) -> None:
        """Stop every producer (the service is stopping)."""
        await self.release(list(self._held))


async def start_fenced(
    consumer: AIOKafkaConsumer | None,
    producers: PartitionProducers,
    assigned: Collection[TopicPartition],
) -> None:
    """Fence the previous owners of `assigned` (just given to `consumer`), then move the
    consumer to their committed offsets, final only now; they stay paused meanwhile."""
    if consumer is None:  # not a consumer of the subscriber's: nothing to move
        await producers.fence(assigned)
        return
    consumer.pause(*assigned)
    try:
        await producers.fence(assigned)
        for partition in assigned:
            offset = await consumer.committed(partition)
            if offset is not None:
                consumer.seek(partition, offset)
    finally:
        consumer.resume(*assigned)


class Hop:
    """One message being handled (a record, or a batch's records) and the transactions its
    publishes opened, one per input partition they came from."""

    def __init__(
        self,
        producers: PartitionProducers,
        consumer: AIOKafkaConsumer,
        records: tuple[ConsumerRecord[Any, Any], ...],
    ) -> None:
        self.producers = producers
        self.consumer = consumer
        self.records = records
        self.open: dict[TopicPartition, AIOKafkaProducer] = {}
        self.done = False
        self._beginning = asyncio.Lock()  # a batch publishes from several tasks at once

    @property
    def offsets(self) -> dict[TopicPartition, int]:
        """Return the offsets to commit once the hop is done (the next to read)."""
        offsets: dict[TopicPartition, int] = {}
        for record in self.records:
            partition = TopicPartition(record.topic, record.partition)
            offsets[partition] = max(offsets.get(partition, 0), record.offset + 1)
        return offsets

    async def producer_for(self, cause: TopicPartition | None) -> AIOKafkaProducer | None:
        """Return the producer, in a transaction, of the partition `cause` (default: the
        hop's first record's); None once the hop is done, or for a partition not held."""
        if self.done or not self.records:
            return None
        partitions = self.offsets
        partition = cause if cause in partitions else next(iter(partitions))
        async with self._beginning:
            producer = self.open.get(partition)
            if producer is None:
                producer = await self.producers.get(partition)
                if producer is None:
                    return None
                await producer.begin_transaction()
                self.open[partition] = producer
        return producer

    async def commit(self) -> None:
        """Commit each open transaction with its partition's offsets; the partitions that
        published nothing commit as before (`DeferredCommits`), or, when another partition's
        transaction is open, in the first one."""
        self.done = True
        offsets = self.offsets
        commits = commits_of(self.consumer)
        if not self.open:
            commits.handled(self.records)
            return
        orphans = {tp: o for tp, o in offsets.items() if tp not in self.open}
        for partition, producer in self.open.items():
            mine = {partition: offsets[partition]} | orphans
            orphans = {}
            await commits.forget(mine)
            try:
                await producer.send_offsets_to_transaction(mine, self.producers.group_id)
                await producer.commit_transaction()
            except ProducerFenced:
                log.warning("%s moved to another owner; it redoes the hop", partition)
            except KafkaError as exc:
                log.warning("committing the transaction of %s failed, redoing: %s", partition, exc)
                with contextlib.suppress(KafkaError):
                    await producer.abort_transaction()
                self._rewind(mine)

    async def abort(self) -> None:
        """Abort every open transaction (the handler failed; the message is redone)."""
        self.done = True
        for partition, producer in self.open.items():
            try:
                await producer.abort_transaction()
            except KafkaError as exc:  # the next owner's fencing aborts it
                log.warning("aborting the transaction of %s failed: %s", partition, exc)

    def _rewind(self, offsets: dict[TopicPartition, int]) -> None:
        earliest: dict[TopicPartition, int] = {}
        for record in self.records:
            partition = TopicPartition(record.topic, record.partition)
            if partition in offsets:
                earliest[partition] = min(earliest.get(partition, record.offset), record.offset)
        for partition, offset in earliest.items():
            if partition in self.consumer.assignment():
                self.consumer.seek(partition, offset)


_HOP: contextvars.ContextVar[Hop | None] = contextvars.ContextVar("pillars_hop", default=None)
_CAUSE: contextvars.ContextVar[TopicPartition | None] = contextvars.ContextVar(
    "pillars_cause", default=None
)


@contextlib.contextmanager
def publishing_for(topic: str, partition: int) -> Iterator[None]:
    """Within the block, publishes belong to the transaction of the input partition
    `topic`[`partition`] (a batch's record that caused them)."""
    token = _CAUSE.set(TopicPartition(topic, partition))
    try:
        yield
    finally:
        _CAUSE.reset(token)


async def hop_producer() -> AIOKafkaProducer | None:
    """Return the transactional producer a publish made now goes through: the current
    hop's, for the partition it is published for; None outside a hop (`route_publishes`)."""
    hop = _HOP.get()
    return None if hop is None else await hop.producer_for(_CAUSE.get())


class _TransactionalMessage(KafkaAckableMessage):
    """A message whose ack commits its hop's transactions and whose nack aborts them."""

    hop: Hop

    async def ack(self) -> None:
        if not self.committed:
            await self.hop.commit()
        await KafkaMessage.ack(self)

    async def nack(self) -> None:
        if not self.committed:
            await self.hop.abort()
        await super().nack()  # rewinds the consumer to the message


def transactional_parser(producers: PartitionProducers) -> Callable[..., Any]:
    """Return a FastStream parser that makes each message a hop of `producers`' group."""

    async def parse(
        records: ConsumerRecord[Any, Any] | tuple[ConsumerRecord[Any, Any], ...], original: Any
    ) -> StreamMessage[Any]:
        message: StreamMessage[Any] = await original(records)
        consumer = getattr(message, "consumer", None)
        if isinstance(consumer, AIOKafkaConsumer):  # not FastStream's test broker
            swap_ack(message, _TransactionalMessage)
            hop = Hop(producers, consumer, records_of(message.raw_message))
            message.hop = hop  # type: ignore[attr-defined]
            _HOP.set(hop)
        return message

    return parse

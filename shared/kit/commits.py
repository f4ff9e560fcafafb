"""Offsets commit shortly after their messages are handled, a few per second per consumer.

A handled message's offset is only noted; each consumer commits what it noted at most
`COMMIT_INTERVAL_S` later, in one request. Committing every message was six OffsetCommit
requests per user request (one per consumer group on the way) for the broker's group
coordinator to append, and a round trip each consumer waited out before its next message.
Nothing is committed before its handler's effects are durable, so a crash still loses
nothing: it redelivers at most the last interval's messages, whose effects are idempotent.
Before partitions move (a rebalance) and before a consumer stops, what it noted commits.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Collection, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka.message import KafkaAckableMessage, KafkaMessage
from faststream.message import StreamMessage

from shared.kit.faststream_seams import swap_ack
from shared.kit.records import records_of

__all__ = [
    "COMMIT_INTERVAL_S",
    "DeferredCommits",
    "commit_after_handling",
    "commits_of",
    "flush_partitions",
]

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 0.5


class DeferredCommits:
    """One consumer's handled, not yet committed offsets; committed within `interval_s`."""

    def __init__(self, consumer: AIOKafkaConsumer, interval_s: float = COMMIT_INTERVAL_S) -> None:
        self._consumer = consumer
        self._interval_s = interval_s
        self._pending: dict[TopicPartition, int] = {}
        self._timer: asyncio.Task[None] | None = None
        self._committing = asyncio.Lock()  # one commit in flight, in order

    @property
    def pending(self) -> dict[TopicPartition, int]:
        """Return the offsets noted and not yet committed (the next offset to read)."""
        return dict(self._pending)

    def handled(self, records: Iterable[ConsumerRecord[Any, Any]]) -> None:
        """Note that `records` are handled; their offsets commit within the interval."""
        for record in records:
            partition = TopicPartition(record.topic, record.partition)
            self._pending[partition] = max(self._pending.get(partition, 0), record.offset + 1)
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._commit_later())

    async def _commit_later(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.flush()
            except KafkaError as exc:  # noted again: the next interval retries
                log.warning("committing offsets failed, retrying: %s", exc)
            if not self._pending:  # what came while committing waits one more interval
                return

    async def forget(self, partitions: Collection[TopicPartition]) -> None:
        """Drop what was noted for `partitions`, once any commit in flight is done: a later
        offset of theirs is about to commit another way (in a transaction)."""
        async with self._committing:
            for tp in partitions:
                self._pending.pop(tp, None)

    async def close(self) -> None:
        """Commit what was noted and stop the timer (the consumer is about to stop)."""
        try:
            await self.flush()
        except KafkaError as exc:  # the group redelivers them to the next owner
            log.warning("committing offsets before stopping failed: %s", exc)
        if self._timer is not None:
            self._timer.cancel()

    async def flush(self, partitions: Collection[TopicPartition] | None = None) -> None:
        """Commit what was noted now (only for `partitions`, when given).

        Partitions this consumer no longer holds are dropped: their new owner starts from
        the last commit and, at worst, redoes what was noted here.
        """
        async with self._committing:
            chosen = {
                tp: offset
                for tp, offset in self._pending.items()
                if partitions is None or tp in partitions
            }
            for tp in chosen:
                del self._pending[tp]
            held = self._consumer.assignment()
            offsets = {tp: offset for tp, offset in chosen.items() if tp in held}
            if not offsets:
                return
            try:
                await self._consumer.commit(offsets)
            except KafkaError:
                for tp, offset in offsets.items():
                    self._pending[tp] = max(self._pending.get(tp, 0), offset)
                raise


_BY_CONSUMER: weakref.WeakKeyDictionary[AIOKafkaConsumer, DeferredCommits] = (
    weakref.WeakKeyDictionary()
)


def commits_of(consumer: AIOKafkaConsumer) -> DeferredCommits:
    """Return `consumer`'s deferred commits; the first call makes its `stop` commit them."""
    commits = _BY_CONSUMER.get(consumer)
    if commits is None:
        commits = _BY_CONSUMER[consumer] = DeferredCommits(consumer)
        stop = consumer.stop

        async def commit_then_stop() -> None:
            await commits.close()
            await stop()

        consumer.stop = commit_then_stop
    return commits


async def flush_partitions(partitions: Collection[TopicPartition]) -> None:
    """Commit what any consumer noted for `partitions` (before they move to another)."""
    for commits in list(_BY_CONSUMER.values()):
        try:
            await commits.flush(partitions)
        except KafkaError as exc:
            log.warning("committing offsets before a rebalance failed: %s", exc)


class _DeferredCommitMessage(KafkaAckableMessage):
    """A message whose ack notes its offset for `DeferredCommits` instead of committing."""

    async def ack(self) -> None:
        if not isinstance(self.consumer, AIOKafkaConsumer):  # FastStream's test broker
            await super().ack()
            return
        if not self.committed:
            commits_of(self.consumer).handled(records_of(self.raw_message))
        await KafkaMessage.ack(self)


async def commit_after_handling(
    records: ConsumerRecord[Any, Any] | tuple[ConsumerRecord[Any, Any], ...], original: Any
) -> StreamMessage[Any]:
    """A FastStream parser: the message (one record or a batch) as FastStream builds it,
    acked by deferred commits."""
    message: StreamMessage[Any] = await original(records)
    swap_ack(message, _DeferredCommitMessage)
    return message

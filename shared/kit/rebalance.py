"""Partitions move between replicas only after their in-flight messages are committed.

When a replica joins or leaves, Kafka rebalances the group. Without care, a replica
still processing a batch from a revoked partition commits too late (the group has moved
on), and the new owner processes that batch again. aiokafka awaits a rebalance
listener's `on_partitions_revoked` before it rejoins the group, so waiting there for
the subscriber's in-flight messages (FastStream tracks them for graceful shutdown)
lets their handlers finish and commit while the partitions are still ours. With
exactly-once hops (`shared.kit.transactions`) the partitions' transactional producers stop
once revoked and start, fencing the previous owner, when assigned.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from shared.kit.commits import flush_partitions
from shared.kit.faststream_seams import consumers_of, wait_for_in_flight
from shared.kit.transactions import PartitionProducers, start_fenced

__all__ = ["FinishBeforeRevoke"]

log = logging.getLogger(__name__)


class FinishBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Rebalance listener that waits (bounded) for the subscriber's in-flight messages."""

    def __init__(self, timeout_s: float, producers: PartitionProducers | None = None) -> None:
        self.timeout_s = timeout_s
        self.producers = producers  # exactly-once hops: the group's transactional producers
        self.subscriber: Any = None  # set once the subscriber exists

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Return once every message being handled is done (acked or nacked) and what was
        handled is committed."""
        if revoked:
            await wait_for_in_flight(self.subscriber, self.timeout_s)
            await flush_partitions(revoked)
            if self.producers is not None:
                await self.producers.release(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """With exactly-once hops, fence the previous owners' transactions and start from
        the committed offsets as they are then; otherwise nothing to do (positions come
        from the committed offsets)."""
        if self.producers is not None and assigned:
            holders = [c for c in consumers_of(self.subscriber) if assigned <= c.assignment()]
            await start_fenced(holders[0] if holders else None, self.producers, assigned)

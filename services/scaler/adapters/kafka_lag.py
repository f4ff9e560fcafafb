"""Consumer-group lag from Kafka: committed offsets against end offsets, per partition."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.scaler.ports import GroupLag

__all__ = ["KafkaLagProbe"]


class KafkaLagProbe:
    """LagProbe over an admin client (groups) and a group-less consumer (end offsets)."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)

    async def start(self) -> None:
        """Connect both clients."""
        await self._admin.start()
        await self._consumer.start()

    async def stop(self) -> None:
        """Disconnect both clients."""
        await self._consumer.stop()
        await self._admin.close()

    async def observe(self, group: str, topic: str) -> GroupLag:
        """Return the group's total lag on `topic`; an uncommitted partition lags by its size."""
        partitions = [TopicPartition(topic, p) for p in sorted(await self._partitions(topic))]
        ends = await self._consumer.end_offsets(partitions) if partitions else {}
        begins = await self._consumer.beginning_offsets(partitions) if partitions else {}
        committed = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        lag = 0
        for tp in partitions:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else begins[tp]
            lag += max(0, ends[tp] - position)
        [description] = await self._admin.describe_consumer_groups([group])
        members = len(description.members) if hasattr(description, "members") else 0
        return GroupLag(
            group=group, topic=topic, partitions=len(partitions), lag=lag, members=members
        )

    async def _partitions(self, topic: str) -> set[int]:
        found = self._consumer.partitions_for_topic(topic)
        if found is None:
            await self._consumer.topics()  # refreshes metadata
            found = self._consumer.partitions_for_topic(topic)
        return set(found or ())

"""Consumer-group lag from Kafka: committed offsets against end offsets, per partition."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.scaler.ports import GroupLag
from shared.kit.kafka_admin import group_members
from shared.kit.kafka_security import KafkaSecuritySettings, kafka_client_options
from shared.kit.settings import bootstrap_list

__all__ = ["KafkaLagProbe"]


class KafkaLagProbe:
    """LagProbe over an admin client (groups) and a group-less consumer (end offsets)."""

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        security: KafkaSecuritySettings | None = None,
    ) -> None:
        servers = bootstrap_list(bootstrap_servers)
        options = kafka_client_options(security) if security else {}
        self._admin = AIOKafkaAdminClient(bootstrap_servers=servers, **options)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, **options)

    async def start(self) -> None:
        """Connect both clients."""
        await self._admin.start()
        await self._consumer.start()

    async def stop(self) -> None:
        """Disconnect both clients."""
        await self._consumer.stop()
        await self._admin.close()

    async def observe(self, group: str, topic: str) -> GroupLag:
        """Return the group's lag on `topic` per partition; an uncommitted one lags by its size."""
        partitions = [TopicPartition(topic, p) for p in sorted(await self._partitions(topic))]
        ends = await self._consumer.end_offsets(partitions) if partitions else {}
        begins = await self._consumer.beginning_offsets(partitions) if partitions else {}
        committed = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        lags, position_sum = [], 0
        for tp in partitions:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else begins[tp]
            lags.append(max(0, ends[tp] - position))
            position_sum += position
        return GroupLag(
            group=group,
            topic=topic,
            partition_lags=tuple(lags),
            end_offsets=sum(ends.values()),
            committed=position_sum,
            members=await self.members(group),
        )

    async def members(self, group: str) -> int:
        """Return how many consumers are in `group` now."""
        return await group_members(self._admin, group)

    async def _partitions(self, topic: str) -> set[int]:
        [described] = await self._admin.describe_topics([topic])
        if described.get("error_code", 0):
            return set()  # the topic does not exist (yet): nothing can lag on it
        return {p["partition"] for p in described["partitions"]}

"""Creating pillars' topics, with their dead-letter topics, on a Kafka cluster."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts.topics import MAX_MESSAGE_BYTES, all_topic_names
from shared.kit.settings import bootstrap_list

__all__ = ["ensure_topics"]


async def ensure_topics(
    bootstrap_servers: str | Sequence[str],
    prefix: str,
    partitions: int,
    replication_factor: int = 1,
) -> list[str]:
    """Create the topics that do not exist yet and return the names it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_list(bootstrap_servers))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in all_topic_names(prefix) if n not in existing]
        if not missing:
            return []
        new = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs={"max.message.bytes": str(MAX_MESSAGE_BYTES)},
            )
            for name in missing
        ]
        # Another process may create them at the same moment (or the listing was stale):
        # a topic that already exists is the goal too, and is not reported as created.
        try:
            response = await admin.create_topics(new)
        except TopicAlreadyExistsError:
            return []
        created = []
        for name, code, *message in response.topic_errors:
            if code == TopicAlreadyExistsError.errno:
                continue
            if code != 0:
                raise RuntimeError(f"could not create topic {name}: error {code} {message}")
            created.append(name)
        return created
    finally:
        await admin.close()

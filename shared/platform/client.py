"""A small client for business systems and tools: publish events, wait for what they cause."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from shared.contracts.cloudevents import ce_headers
from shared.contracts.events import Event
from shared.contracts.topics import EVENT_OF, MAX_MESSAGE_BYTES, Topic, dlq_name, topic_name
from shared.kit.kafka_security import KafkaSecuritySettings, kafka_client_options
from shared.kit.settings import bootstrap_list

__all__ = ["PillarsClient", "Watch"]

E = TypeVar("E", bound=Event)


class Watch:
    """Events arriving on one topic from the moment the watch started."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: Topic) -> None:
        self._consumer = consumer
        self._model = EVENT_OF[topic]
        self.skipped = 0  # records that were not valid events (anyone can publish anything)

    async def stream(self) -> AsyncIterator[Event]:
        """Yield events as they arrive, forever; bound it with `asyncio.timeout`. A record
        that is not a valid event of the topic is skipped (and counted), never fatal."""
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    try:
                        event = self._model.model_validate_json(record.value or b"")
                    except ValueError:
                        self.skipped += 1
                        continue
                    yield event

    async def collect(self, done: Callable[[list[Event]], bool], timeout_s: float) -> list[Event]:
        """Gather events until `done(events)` holds; raise TimeoutError after `timeout_s`."""
        events: list[Event] = []
        async with asyncio.timeout(timeout_s):
            if done(events):
                return events
            async for event in self.stream():
                events.append(event)
                if done(events):
                    break
        return events

    async def collect_for(self, seconds: float) -> list[Event]:
        """Gather whatever arrives within `seconds`."""
        events: list[Event] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for event in self.stream():
                    events.append(event)
        return events

    async def stop(self) -> None:
        """Close the watch's consumer."""
        await self._consumer.stop()


class PillarsClient:
    """Publishes events with keys and CloudEvents headers; watches topics for results."""

    def __init__(
        self,
        bootstrap_servers: str | Sequence[str],
        *,
        prefix: str = "pillars",
        source: str,
        security: KafkaSecuritySettings | None = None,
    ) -> None:
        """Prepare a client of `bootstrap_servers`, connecting as `security` says."""
        self._bootstrap = bootstrap_list(bootstrap_servers)
        self._options = kafka_client_options(security) if security else {}
        self._prefix = prefix
        self._source = source
        self._producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> PillarsClient:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            max_request_size=MAX_MESSAGE_BYTES,
            **self._options,
        )
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def publish(self, topic: Topic, event: Event) -> None:
        """Publish `event` to `topic` and wait until the broker has it."""
        assert self._producer is not None, "use `async with PillarsClient(...)`"
        headers = [(k, v.encode()) for k, v in ce_headers(event, self._source).items()]
        headers.append(("content-type", b"application/json"))
        await self._producer.send_and_wait(
            topic_name(topic, self._prefix),
            event.model_dump_json().encode(),
            key=event.message_key,
            headers=headers,
        )

    async def publish_raw(self, topic: Topic, value: bytes, key: bytes | None = None) -> None:
        """Publish bytes as they are (for tools and tests of bad input)."""
        assert self._producer is not None, "use `async with PillarsClient(...)`"
        await self._producer.send_and_wait(topic_name(topic, self._prefix), value, key=key)

    async def dead_letters(self, topic: Topic) -> list[ConsumerRecord[bytes, bytes]]:
        """Return every record in `topic`'s dead-letter topic, oldest first per partition."""
        name = dlq_name(topic_name(topic, self._prefix))
        consumer, partitions = await self._assigned_consumer(name)
        try:
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found: list[ConsumerRecord[bytes, bytes]] = []
            while any(
                position < ends[tp]
                for tp, position in [(tp, await consumer.position(tp)) for tp in partitions]
            ):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(records)
            return found
        finally:
            await consumer.stop()

    async def watch(self, topic: Topic) -> Watch:
        """Start watching `topic` from its current end; events published after this are seen."""
        consumer, partitions = await self._assigned_consumer(topic_name(topic, self._prefix))
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolve now, so later events are not skipped
        return Watch(consumer, topic)

    async def _assigned_consumer(self, name: str) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
        """Return a group-less consumer assigned every partition of topic `name`."""
        assert self._producer is not None, "use `async with PillarsClient(...)`"
        try:
            async with asyncio.timeout(30):
                numbers = await self._producer.partitions_for(name)
        except TimeoutError:
            raise RuntimeError(
                f"topic {name} does not exist: has `pillars up` created it?"
            ) from None
        partitions = [TopicPartition(name, p) for p in sorted(numbers)]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
            # What an exactly-once hop aborted (PILLARS_EXACTLY_ONCE) is never shown; without
            # transactions every record is committed, so this reads everything.
            isolation_level="read_committed",
            **self._options,
        )
        await consumer.start()
        consumer.assign(partitions)
        return consumer, partitions

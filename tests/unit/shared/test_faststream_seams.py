"""Each FastStream internal pillars relies on (`shared.kit.faststream_seams`), checked
against the installed FastStream: an upgrade that moves one fails here, by name."""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace
from typing import Any

from faststream import BaseMiddleware
from faststream._internal.endpoint.subscriber.usecase import SubscriberUsecase
from faststream._internal.endpoint.subscriber.utils import MultiLock
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.message import KafkaAckableMessage, KafkaMessage
from faststream.kafka.response import KafkaPublishCommand
from faststream.response.publish_type import PublishType

from shared.kit.faststream_seams import (
    broker_of_context,
    current_message,
    handler_of_context,
    route_publishes,
    swap_ack,
    wait_for_in_flight,
)


async def test_the_current_message_and_a_middlewares_context_are_where_pillars_reads_them() -> None:
    seen: dict[str, Any] = {}

    class Peek(BaseMiddleware):
        async def after_processed(self, *exc_info: Any) -> bool | None:
            # where the dead-letter middleware reads them
            seen["handler"] = handler_of_context(self.context)
            seen["broker"] = broker_of_context(self.context)
            return False

    broker = KafkaBroker("unused:9092", middlewares=[Peek])

    @broker.subscriber("seams")
    async def handle(body: str) -> None:
        seen["message"] = current_message(broker)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish("hello", "seams")
    assert isinstance(seen["message"], KafkaMessage)
    assert seen["message"].body == b"hello"
    assert seen["handler"] is not None
    assert seen["broker"] is broker


async def test_a_started_subscriber_tracks_its_in_flight_messages_in_a_releasable_lock() -> None:
    # FastStream's subscriber swaps its lock for a MultiLock when it starts (the test broker
    # never starts one); the rebalance listener waits on that lock.
    start_source = inspect.getsource(SubscriberUsecase.start)
    assert "self.lock = MultiLock()" in start_source, "FastStream's in-flight lock moved"
    subscriber = SimpleNamespace(lock=MultiLock())
    subscriber.lock.acquire()  # a message in flight
    waiting = asyncio.create_task(wait_for_in_flight(subscriber, 5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    subscriber.lock.release()
    await asyncio.wait_for(waiting, 5)
    await wait_for_in_flight(SimpleNamespace(lock=None), 5)  # never started: nothing to wait


def test_an_ackable_message_can_take_a_deferred_ack_class() -> None:
    class Deferred(KafkaAckableMessage):
        pass

    for attribute in ("ack", "nack", "reject"):
        assert callable(getattr(KafkaAckableMessage, attribute))
    message = KafkaAckableMessage.__new__(KafkaAckableMessage)
    swap_ack(message, Deferred)
    assert type(message) is Deferred
    other = KafkaMessage.__new__(KafkaMessage)
    swap_ack(other, Deferred)  # only FastStream's ackable messages are swapped
    assert type(other) is KafkaMessage


class _SendingProducer:
    """aiokafka's producer as FastStream's publish uses it: `send` returns a future."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self._closed = False

    async def start(self) -> None:
        pass

    async def send(self, topic: str, **_: Any) -> asyncio.Future[None]:
        self.sent.append(topic)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_routed_publishes_go_through_the_producer_chosen_for_them() -> None:
    broker = KafkaBroker("unused:9092")
    own, transactional = _SendingProducer(), _SendingProducer()
    route = SimpleNamespace(to=None)

    async def choose() -> Any:
        return route.to

    route_publishes(broker, choose)
    producer: Any = broker.config.producer
    await producer.connect(own, serializer=None)

    def command(topic: str) -> KafkaPublishCommand:
        return KafkaPublishCommand(b"{}", topic=topic, _publish_type=PublishType.PUBLISH)

    await producer.publish(command("plain"))
    route.to = transactional
    await producer.publish(command("in-transaction"))
    assert own.sent == ["plain"]
    assert transactional.sent == ["in-transaction"]
    assert producer._producer.producer is own  # outside a routed publish: the broker's own

"""Every place pillars relies on FastStream 0.7's internals, in one module.

Each seam names the internal it uses and why; `tests/unit/shared/test_faststream_seams.py`
checks each against the installed FastStream, so an upgrade that moves one fails there,
loudly, instead of silently turning a guarantee off.
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from faststream._internal.context.repository import ContextRepo
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaAckableMessage, KafkaMessage
from faststream.kafka.publisher.producer import AioKafkaFastProducerImpl
from faststream.kafka.publisher.state import RealProducer
from faststream.kafka.response import KafkaPublishCommand

__all__ = [
    "ContextRepo",
    "broker_of_context",
    "consumers_of",
    "current_message",
    "handler_of_context",
    "poll_without_idle_sleep",
    "route_publishes",
    "swap_ack",
    "wait_for_in_flight",
]


def current_message(broker: KafkaBroker) -> KafkaMessage:
    """Return the message being handled (what a `KafkaMessage` parameter would get).

    Read from the context's local slot: a handler parameter resolves through fast_depends
    in a worker thread, which cost each hop about a millisecond under load.
    """
    message: KafkaMessage = broker.context.get_local("message")
    return message


def handler_of_context(context: ContextRepo) -> Any:
    """Return the subscriber handling the current message (a middleware's view of it)."""
    return context.get("handler_")


def broker_of_context(context: ContextRepo) -> Any:
    """Return the broker of the current message (a middleware's view of it)."""
    return context.get("broker")


async def wait_for_in_flight(subscriber: Any, timeout_s: float) -> None:
    """Wait (bounded) until the subscriber's in-flight messages are acked or nacked.

    FastStream tracks them in `subscriber.lock` for its graceful shutdown; a rebalance
    listener waits on the same lock so partitions move only once their messages commit.
    """
    lock: Any = getattr(subscriber, "lock", None)
    if lock is not None and hasattr(lock, "wait_release"):
        await lock.wait_release(timeout_s)


def consumers_of(subscriber: Any) -> list[AIOKafkaConsumer]:
    """Return the started aiokafka consumers of a FastStream Kafka subscriber: its one
    (`consumer`), or a concurrent subscriber's several (`consumer_subgroup`)."""
    several = getattr(subscriber, "consumer_subgroup", None)
    if several:
        return list(several)
    one = getattr(subscriber, "consumer", None)
    return [] if one is None else [one]


def swap_ack(message: Any, deferred: type[KafkaAckableMessage]) -> None:
    """Make a message FastStream built ack through `deferred` (a subclass) instead."""
    if type(message) is KafkaAckableMessage:
        message.__class__ = deferred


def poll_without_idle_sleep(subscriber: Any, *, max_records: int, wait_ms: int) -> None:
    """Make a FastStream batch subscriber poll without sleeping after an empty poll.

    FastStream 0.7's batch poll (`get_msg`) sleeps `batch_timeout_ms` more when `getmany`
    found nothing, so a record arriving during that sleep waits for it (up to 50 ms a hop
    for requests). `getmany` itself already waits up to `wait_ms` and returns as soon as a
    record arrives, so without the sleep an idle consumer still polls only every `wait_ms`.
    """

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[bytes, bytes], ...]:
        batches = await consumer.getmany(timeout_ms=wait_ms, max_records=max_records)
        return tuple(itertools.chain.from_iterable(batches.values()))

    replaced: Callable[..., Any] | None = getattr(subscriber, "get_msg", None)
    if replaced is None:
        raise RuntimeError("FastStream's batch subscriber has no get_msg to replace")
    subscriber.get_msg = get_msg


# The producer a publish in this task goes through, when `route_publishes` chose one.
_ROUTED: contextvars.ContextVar[AIOKafkaProducer | None] = contextvars.ContextVar(
    "pillars_routed_producer", default=None
)
Chooser = Callable[[], Awaitable[AIOKafkaProducer | None]]


class _RoutedProducerState(RealProducer):
    """FastStream's connected-producer state whose producer is the routed one, if any."""

    __slots__ = ("_own",)

    @property  # replaces RealProducer's slot: the routed producer while one is chosen
    def producer(self) -> AIOKafkaProducer:
        return _ROUTED.get() or self._own

    @producer.setter
    def producer(self, value: AIOKafkaProducer) -> None:
        self._own = value


class _RoutingFastProducer(AioKafkaFastProducerImpl):
    """FastStream's Kafka producer whose publishes `choose` may send through another
    aiokafka producer (a transactional one)."""

    __slots__ = ()

    async def connect(self, producer: AIOKafkaProducer, *args: Any, **kwargs: Any) -> None:
        await super().connect(producer, *args, **kwargs)
        self._producer = _RoutedProducerState(producer)

    async def publish(self, cmd: KafkaPublishCommand) -> Any:
        chosen = await _CHOOSERS[id(self)]()
        if chosen is None:
            return await super().publish(cmd)
        token = _ROUTED.set(chosen)
        try:
            return await super().publish(cmd)
        finally:
            _ROUTED.reset(token)


_CHOOSERS: dict[int, Chooser] = {}


def route_publishes(broker: KafkaBroker, choose: Chooser) -> None:
    """Send every publish of `broker` (a subscriber's returned event, a publisher's or the
    broker's own `publish`) through the aiokafka producer `choose` returns, when it returns
    one; through the broker's own otherwise.

    FastStream 0.7 builds its producer wrapper (`broker.config.producer`) when the broker is
    built and keeps the aiokafka producer it connects in `RealProducer.producer`; both are
    swapped for subclasses here, before the broker connects, so no publish escapes.
    """
    fast = broker.config.producer
    if type(fast) is not AioKafkaFastProducerImpl:
        raise RuntimeError(f"FastStream's Kafka producer is a {type(fast).__name__} now")
    fast.__class__ = _RoutingFastProducer
    _CHOOSERS[id(fast)] = choose

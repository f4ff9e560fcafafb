"""Dead-lettering: a message that cannot be processed goes to `<topic>.dlq`, the rest flows on.

Transient failures (a database or broker that is briefly away) are not the
message's fault: those are retried after a pause instead, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import TracebackType
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, RequestTimedOutError
from faststream import BaseMiddleware

from shared.contracts.cloudevents import ce_headers
from shared.contracts.events import Event
from shared.contracts.topics import dlq_name
from shared.kit.faststream_seams import ContextRepo, broker_of_context, handler_of_context
from shared.kit.metrics import DEADLETTERS
from shared.kit.records import records_of
from shared.kit.transactions import publishing_for

__all__ = [
    "DeadLetterMiddleware",
    "Rejected",
    "dead_letter",
    "dead_letter_event",
    "dead_letter_value",
    "is_transient",
    "record_headers",
]

log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,  # a name that does not resolve yet (a container still starting)
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.UndefinedTableError,  # a table its owning service has not created yet
    KafkaConnectionError,
    KafkaTimeoutError,
    RequestTimedOutError,
)


class Rejected(Exception):  # noqa: N818 - it names the outcome, like HTTP's 4xx
    """The message itself is wrong (user-caused); it goes to the dead-letter topic."""


def is_transient(exc: BaseException) -> bool:
    """Tell whether `exc` is worth retrying rather than dead-lettering."""
    return isinstance(exc, TRANSIENT) and not isinstance(exc, Rejected)


def describe(exc: BaseException) -> str:
    """Return a one-line reason for a refused message."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:2000]


def record_headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    """Return a record's headers as text (bytes that are not UTF-8 are replaced, not fatal)."""
    return {k: v.decode("utf-8", "replace") for k, v in record.headers or ()}


async def dead_letter(
    broker: Any, record: ConsumerRecord[bytes, bytes], *, reason: str, consumer: str
) -> None:
    """Publish `record`'s original bytes and headers to its topic's DLQ, with the reason
    (with exactly-once on, in the transaction of the record's partition)."""
    with publishing_for(record.topic, record.partition):
        await dead_letter_value(
            broker,
            topic=record.topic,
            value=record.value or b"",
            key=record.key,
            headers=record_headers(record)
            | {
                "pillars_dlq_partition": str(record.partition),
                "pillars_dlq_offset": str(record.offset),
            },
            reason=reason,
            consumer=consumer,
            where=f"{record.topic}[{record.partition}]@{record.offset}",
        )


async def dead_letter_value(
    broker: Any,
    *,
    topic: str,
    value: bytes,
    key: bytes | None,
    headers: dict[str, str],
    reason: str,
    consumer: str,
    where: str | None = None,
) -> None:
    """Publish `value`, read from `topic` by `consumer`, to that topic's DLQ with the reason
    (e.g. what a consumer kept and gave up on later)."""
    headers = headers | {
        "pillars_dlq_reason": reason,
        "pillars_dlq_consumer": consumer,
        "pillars_dlq_topic": topic,
    }
    await broker.publish(value, topic=dlq_name(topic), key=key, headers=headers)
    DEADLETTERS.labels(topic).inc()
    log.warning("dead-lettered %s for %s: %s", where or topic, consumer, reason)


async def dead_letter_event(
    broker: Any, event: Event, reason: str, *, topic: str, source: str, consumer: str
) -> None:
    """Publish `event`, read from `topic` and kept by `consumer` (from `source`), to that
    topic's DLQ with the reason: a message a service held on to and later gave up on."""
    await dead_letter_value(
        broker,
        topic=topic,
        value=event.model_dump_json().encode(),
        key=event.message_key,
        headers=ce_headers(event, source),
        reason=reason,
        consumer=consumer,
    )


class DeadLetterMiddleware(BaseMiddleware):
    """Send refused messages to their DLQ and let the consumer carry on; retry transient errors."""

    def __init__(self, msg: Any, /, *, context: ContextRepo, backoff_s: float = 1.0) -> None:
        super().__init__(msg, context=context)
        self.backoff_s = backoff_s

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        """Dead-letter on a non-transient error and suppress it, so the offset is committed."""
        if exc_val is None or not isinstance(exc_val, Exception):
            return False
        if is_transient(exc_val):
            log.warning("transient failure, will retry: %s", describe(exc_val))
            await asyncio.sleep(self.backoff_s)
            return False  # the ack policy NACKs: Kafka redelivers from the same offset
        handler = handler_of_context(self.context)
        consumer = getattr(handler, "group_id", None) or "unknown"
        broker = broker_of_context(self.context)
        for record in records_of(self.msg):
            await dead_letter(broker, record, reason=describe(exc_val), consumer=consumer)
        return True

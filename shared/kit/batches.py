"""Batch consumption where one bad message must not take its neighbours down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from faststream.kafka.message import KafkaMessage
from pydantic import ValidationError

from shared.contracts.events import Event
from shared.kit.deadletter import dead_letter, describe, record_headers
from shared.kit.records import KeyOfAnotherTenant, event_from_record, records_of

__all__ = ["Received", "raw_bodies", "valid_events"]

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Received(Generic[E]):
    """A valid event of a batch, the headers it came with (its trace context among them)
    and where it came from (what it causes belongs to that partition's transaction)."""

    event: E
    headers: dict[str, str]
    partition: tuple[str, int] = ("", -1)  # the record's topic and partition


async def raw_bodies(msg: KafkaMessage) -> list[bytes]:
    """Decode a batch into raw bodies, leaving validation to `valid_events`."""
    return [record.value or b"" for record in records_of(msg.raw_message)]


async def valid_events(
    msg: KafkaMessage, model: type[E], *, broker: Any, consumer: str
) -> list[Received[E]]:
    """Return the batch's records that validate as `model`; dead-letter the others one by one."""
    received: list[Received[E]] = []
    for record in records_of(msg.raw_message):
        try:
            event = event_from_record(model, record.value or b"", record)
        except (ValidationError, KeyOfAnotherTenant) as exc:
            await dead_letter(broker, record, reason=describe(exc), consumer=consumer)
            continue
        partition = (record.topic, record.partition)
        received.append(Received(event, record_headers(record), partition))
    return received

"""Decoding a record into its topic's event, in one pass."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream.message import StreamMessage

from shared.contracts.events import Event
from shared.kit.records import event_from_record

__all__ = ["validated_as"]

E = TypeVar("E", bound=Event)


def validated_as(model: type[E]) -> Callable[[StreamMessage[Any]], Awaitable[E]]:
    """Return a FastStream decoder that validates a record's JSON as `model` in one pass.

    FastStream's own decoder parses the JSON into Python objects and the handler's
    signature validates those again: for a request carrying its 384-float query vector
    that took 267 us against 41 us for pydantic's JSON validation. An invalid record
    raises the same `ValidationError`, so it is dead-lettered as before. A body without
    `event_id` or `occurred_at` gets them from its record (`shared.kit.records`).
    """

    async def decode(message: StreamMessage[Any]) -> E:
        return event_from_record(model, message.body, message.raw_message)

    return decode

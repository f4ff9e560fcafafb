"""What a raw Kafka message carries: one record, or a batch's; and the event each record is.

An event's identity is a function of the record it came in: a producer that leaves
`event_id` or `occurred_at` out of the body (a kcat one-liner, a plain Kafka client) gets
them derived from the record, so a record redelivered after a crash is the same event
again, and everything derived from it (ids, times, predictions) is the same too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import ConsumerRecord

from shared.contracts.events import Event

__all__ = [
    "RECORD_NAMESPACE",
    "KeyOfAnotherTenant",
    "event_from_record",
    "record_identity",
    "records_of",
]

E = TypeVar("E", bound=Event)

# The uuid5 namespace of ids derived from records; fixed forever, or redelivered records
# of an older release would get new ids.
RECORD_NAMESPACE = uuid.UUID("5b0c1f0e-6a43-4f0b-9d55-2f6d0c6f1a7e")


class KeyOfAnotherTenant(ValueError):  # noqa: N818 - it names what the record is
    """The record's key names another tenant than its body: refused, never processed."""


def check_key(event: Event, key: bytes | None) -> None:
    """Raise `KeyOfAnotherTenant` when `key` (`tenant/<id>`) names another tenant than
    `event`; a record without a key, or with one naming no tenant (no '/'), passes."""
    if key is None or b"/" not in key:
        return
    claimed = key.split(b"/", 1)[0]
    if claimed != event.tenant.encode():
        shown = claimed.decode("utf-8", "replace")[:64]
        raise KeyOfAnotherTenant(
            f"the record's key names tenant {shown!r} but its body {event.tenant!r}: a key "
            "is `tenant/<id>` of the event's own tenant"
        )


def records_of(raw: Any) -> tuple[ConsumerRecord[bytes, bytes], ...]:
    """Return the records a raw Kafka message carries: its one record, or a batch's."""
    return tuple(raw) if isinstance(raw, tuple | list) else (raw,)


def _header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name and value:
            try:
                return bytes(value).decode()
            except UnicodeDecodeError:
                return None
    return None


def _event_id(record: ConsumerRecord[bytes, bytes]) -> uuid.UUID:
    ce_id = _header(record, "ce_id")
    if ce_id is not None:
        try:
            return uuid.UUID(ce_id)
        except ValueError:
            # CloudEvents ids are unique within their source, so the source is part of it.
            source = _header(record, "ce_source") or ""
            return uuid.uuid5(RECORD_NAMESPACE, f"ce:{source}\x00{ce_id}")
    return uuid.uuid5(RECORD_NAMESPACE, f"kafka:{record.topic}/{record.partition}/{record.offset}")


def _occurred_at(record: ConsumerRecord[bytes, bytes]) -> datetime:
    ce_time = _header(record, "ce_time")
    if ce_time is not None:
        try:
            parsed = datetime.fromisoformat(ce_time)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)


def record_identity(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    """Return the `event_id` and `occurred_at` of the event `record` carries, from the
    record itself: `ce_id` where the producer set it, else (topic, partition, offset);
    `ce_time` where set, else the record's timestamp."""
    return {"event_id": _event_id(record), "occurred_at": _occurred_at(record)}


def event_from_record(
    model: type[E], body: bytes, record: ConsumerRecord[bytes, bytes] | None
) -> E:
    """Validate `body` as `model` (raising pydantic's `ValidationError` when it is not one,
    `KeyOfAnotherTenant` when the record's key names another tenant), its missing
    identity taken from `record` (`record_identity`)."""
    event = model.model_validate_json(body)
    if record is not None:
        check_key(event, record.key)
    missing = {"event_id", "occurred_at"} - event.model_fields_set
    if not missing or record is None:
        return event
    identity = record_identity(record)
    return event.model_copy(update={name: identity[name] for name in missing})

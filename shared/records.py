"""What a raw Kafka message carries: one record, or a batch subscriber's records."""

from __future__ import annotations

from typing import Any

from aiokafka import ConsumerRecord

__all__ = ["records_of"]


def records_of(raw: Any) -> tuple[ConsumerRecord[bytes, bytes], ...]:
    """Return the records a raw Kafka message carries: its one record, or a batch's."""
    return tuple(raw) if isinstance(raw, tuple | list) else (raw,)

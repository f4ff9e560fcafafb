"""CloudEvents 1.0 binary-mode Kafka headers for pillars events."""

from __future__ import annotations

from faststream.kafka import KafkaResponse
from faststream.kafka.publisher import DefaultPublisher

from shared.events import Event

__all__ = ["ce_headers", "envelope", "publish_event"]


def ce_headers(event: Event, source: str) -> dict[str, str]:
    """Return the `ce_*` headers that describe `event` as a CloudEvent from `source`."""
    return {
        "ce_id": str(event.event_id),
        "ce_type": f"dev.pillars.{type(event).__name__}.v{event.schema_version}",
        "ce_source": source,
        "ce_specversion": "1.0",
        "ce_time": event.occurred_at.isoformat(),
        "ce_subject": event.message_key.decode(),
    }


def envelope(event: Event, source: str) -> KafkaResponse:
    """Wrap `event` for publishing: JSON body, entity key, CloudEvents headers."""
    return KafkaResponse(event, key=event.message_key, headers=ce_headers(event, source))


async def publish_event(publisher: DefaultPublisher, event: Event, source: str) -> None:
    """Publish `event` with its key and CloudEvents headers, waiting for the broker's ack."""
    await publisher.publish(event, key=event.message_key, headers=ce_headers(event, source))

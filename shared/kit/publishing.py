"""Publishing a pillars event: JSON body, its entity key, CloudEvents headers."""

from __future__ import annotations

from faststream.kafka import KafkaResponse
from faststream.kafka.publisher import DefaultPublisher

from shared.contracts.cloudevents import ce_headers
from shared.contracts.events import Event

__all__ = ["envelope", "publish_event"]


def envelope(event: Event, source: str) -> KafkaResponse:
    """Wrap `event` for publishing: JSON body, entity key, CloudEvents headers."""
    return KafkaResponse(event, key=event.message_key, headers=ce_headers(event, source))


async def publish_event(publisher: DefaultPublisher, event: Event, source: str) -> None:
    """Publish `event` with its key and CloudEvents headers, waiting for the broker's ack."""
    await publisher.publish(event, key=event.message_key, headers=ce_headers(event, source))

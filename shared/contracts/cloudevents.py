"""CloudEvents 1.0 binary-mode Kafka headers for pillars events."""

from __future__ import annotations

from shared.contracts.events import Event

__all__ = ["ce_headers"]


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

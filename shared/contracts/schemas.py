"""JSON Schema of every event, per topic: what any Kafka client may validate against."""

from __future__ import annotations

import json
from typing import Any

from shared.contracts.topics import EVENT_OF, topic_name

__all__ = ["dump_json", "event_schemas"]


def event_schemas() -> dict[str, str]:
    """Return `events/<topic>.json` -> the JSON Schema of the event that topic carries."""
    files: dict[str, str] = {}
    for topic, model in EVENT_OF.items():
        schema: dict[str, Any] = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://pillars.dev/schemas/events/{topic_name(topic)}.json"
        files[f"events/{topic_name(topic)}.json"] = dump_json(schema)
    return files


def dump_json(obj: Any) -> str:
    """Return `obj` as the stable, indented JSON schemas/ is written in."""
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"

"""Generate schemas/: JSON Schema per event and AsyncAPI per service, from the code.

The services are found through their `pillars.services` entry points, so this module
imports none of them by name.
"""

from __future__ import annotations

import types
import typing
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from shared.contracts.schemas import (
    TOPIC_TABLE_BEGIN,
    TOPIC_TABLE_END,
    dump_json,
    event_schemas,
    topic_table,
)
from shared.kit.settings import PillarsSettings

__all__ = [
    "SERVICE_GROUP",
    "render_schemas",
    "service_apps",
    "settings_for",
    "write_schemas",
    "write_topic_table",
]

SERVICE_GROUP = "pillars.services"
# Schema generation must not need a broker: the address only appears as the spec's server.
_SPEC_BOOTSTRAP = "localhost:9092"


def service_apps() -> dict[str, Any]:
    """Return each service's `create_app`, by service name."""
    return {point.name: point.load() for point in entry_points(group=SERVICE_GROUP)}


def render_schemas() -> dict[str, str]:
    """Return every generated file, relative path -> text."""
    files = event_schemas()
    base = PillarsSettings(
        kafka_bootstrap_servers=_SPEC_BOOTSTRAP, database_url="postgresql://localhost/pillars"
    )
    for service, create_app in sorted(service_apps().items()):
        app = create_app(settings_for(create_app, base))
        files[f"asyncapi/{service}.json"] = dump_json(app.schema.to_specification().to_jsonable())
    return files


def settings_for(create_app: Any, base: PillarsSettings) -> PillarsSettings:
    """Return the settings class `create_app` takes, filled with the base values."""
    hint = typing.get_type_hints(create_app).get("settings", PillarsSettings)
    if isinstance(hint, types.UnionType):  # `XSettings | None`
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    settings: PillarsSettings = hint(**base.model_dump())
    return settings


def write_topic_table(readme: Path, *, check: bool = False) -> bool:
    """Replace the topic table in `readme` with one generated from the topic map (or only
    compare); return whether it differed."""
    text = readme.read_text()
    start, end = text.find(TOPIC_TABLE_BEGIN), text.find(TOPIC_TABLE_END)
    if start < 0 or end < start:
        raise RuntimeError(f"{readme} has no topic table markers ({TOPIC_TABLE_BEGIN!r})")
    updated = text[:start] + topic_table() + text[end + len(TOPIC_TABLE_END) + 1 :]
    if updated != text and not check:
        readme.write_text(updated)
    return updated != text


def write_schemas(out: Path, *, check: bool = False) -> list[str]:
    """Write the generated files under `out` (or only compare); return the ones that differ."""
    changed = []
    for relative, text in render_schemas().items():
        path = out / relative
        if not path.exists() or path.read_text() != text:
            changed.append(relative)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    return changed

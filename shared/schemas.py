"""Generate schemas/: JSON Schema per event and AsyncAPI per service, from the code."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from shared.runtime.supervisor import SERVICES
from shared.topics import EVENT_OF, topic_name

__all__ = ["render_schemas", "write_schemas"]

# Schema generation must not need a broker: the address only appears as the spec's server.
_SPEC_BOOTSTRAP = "localhost:9092"


def render_schemas() -> dict[str, str]:
    """Return every generated file, relative path -> text."""
    files: dict[str, str] = {}
    for topic, model in EVENT_OF.items():
        schema: dict[str, Any] = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://pillars.dev/schemas/events/{topic_name(topic)}.json"
        files[f"events/{topic_name(topic)}.json"] = _dump(schema)
    for service in SERVICES:
        app_module = importlib.import_module(f"services.{service}.app")
        settings_module = importlib.import_module("shared.settings")
        settings = settings_module.PillarsSettings(
            kafka_bootstrap_servers=_SPEC_BOOTSTRAP, database_url="postgresql://localhost/pillars"
        )
        app = app_module.create_app(_service_settings(service, settings))
        files[f"asyncapi/{service}.json"] = _dump(app.schema.to_specification().to_jsonable())
    return files


def _service_settings(service: str, base: Any) -> Any:
    """Return the service's own settings class filled with the base values."""
    try:
        config = importlib.import_module(f"services.{service}.config")
    except ModuleNotFoundError:
        return base
    cls = next(
        getattr(config, name)
        for name in getattr(config, "__all__", ())
        if name.endswith("Settings")
    )
    return cls(**base.model_dump())


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


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

"""Reading a request's trace back from the dashboard (Phoenix's REST API) and drawing it.

Every span pillars opens for a request carries `pillars.request_id`; one of them names the
trace, then the whole trace is read with `GET /v1/projects/{project}/spans?trace_id=...`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.kit.telemetry import DEFAULT_PROJECT

__all__ = ["SpanRecord", "fetch_trace", "find_trace_id", "flatten", "format_waterfall"]

# What the waterfall shows of a span, when present, in this order.
KEY_ATTRIBUTES = (
    "messaging.destination.name",
    "messaging.consumer.group.name",
    "messaging.destination.partition.id",
    "messaging.kafka.offset",
    "messaging.batch.message_count",
    "openinference.span.kind",
    "embedding.model_name",
    "llm.model_name",
    "llm.token_count.total",
    "pillars.top_k",
    "pillars.retrieval_relevance",
    "pillars.tenant",
    "pillars.experiment",
    "pillars.variant",
)


@dataclass(frozen=True)
class SpanRecord:
    """One span as the dashboard returns it, attributes flattened to dotted names."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start: datetime
    end: datetime
    status: str
    attributes: Mapping[str, Any]

    @property
    def service(self) -> str:
        """Return the pillars service that made the span (`?` when not stamped)."""
        return str(self.attributes.get("pillars.service", "?"))

    @property
    def duration_ms(self) -> float:
        """Return how long the span took."""
        return (self.end - self.start).total_seconds() * 1000

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> SpanRecord:
        """Build a record from one span of Phoenix's `/v1/projects/{p}/spans` answer."""
        return cls(
            trace_id=raw["context"]["trace_id"],
            span_id=raw["context"]["span_id"],
            parent_id=raw.get("parent_id") or None,
            name=raw["name"],
            start=datetime.fromisoformat(raw["start_time"]),
            end=datetime.fromisoformat(raw["end_time"]),
            status=raw.get("status_code", "UNSET"),
            attributes=flatten(raw.get("attributes") or {}) | _kind(raw),
        )


def _kind(raw: Mapping[str, Any]) -> dict[str, str]:
    """Phoenix keeps `openinference.span.kind` as the span's kind, not as an attribute."""
    kind = raw.get("span_kind")
    return {"openinference.span.kind": kind} if kind and kind != "UNKNOWN" else {}


def flatten(attributes: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Return nested attributes (`{"messaging": {"system": ...}}`) as dotted names.

    Lists of objects, like OpenInference's retrieved documents, get their index in the name.
    """
    flat: dict[str, Any] = {}
    for key, value in attributes.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                flat |= flatten(item, f"{name}.{i}.")
        else:
            flat[name] = value
    return flat


def _get(url: str, timeout_s: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout_s) as reply:  # noqa: S310
        return json.load(reply)


def _spans_url(dashboard: str, project: str, query: Sequence[tuple[str, str]]) -> str:
    path = f"/v1/projects/{urllib.parse.quote(project, safe='')}/spans"
    return f"{dashboard.rstrip('/')}{path}?{urllib.parse.urlencode(query)}"


def find_trace_id(
    dashboard: str, request_id: str, *, project: str = DEFAULT_PROJECT, timeout_s: float = 10
) -> str | None:
    """Return the trace id of a span stamped with `request_id`, or None if there is none yet."""
    query = [("attribute", f"pillars.request_id:{json.dumps(request_id)}"), ("limit", "1")]
    try:
        found = _get(_spans_url(dashboard, project, query), timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # the project exists once a first span arrived
            return None
        raise
    spans = found.get("data") or []
    return str(spans[0]["context"]["trace_id"]) if spans else None


def fetch_trace(
    dashboard: str,
    request_id: str,
    *,
    project: str = DEFAULT_PROJECT,
    wait_s: float = 0.0,
    settle_s: float = 0.0,
) -> list[SpanRecord]:
    """Return every span of the request's trace, oldest first.

    With `wait_s`, poll until a span of the request has arrived (exporters batch their
    spans); with `settle_s`, read again until no new span came for that long.
    """
    deadline = time.monotonic() + wait_s
    while (trace_id := find_trace_id(dashboard, request_id, project=project)) is None:
        if time.monotonic() >= deadline:
            raise LookupError(
                f"no trace of request {request_id!r} in project {project!r} at {dashboard}"
            )
        time.sleep(0.5)
    spans = _read_trace(dashboard, project, trace_id)
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < settle_s:
        time.sleep(0.5)
        again = _read_trace(dashboard, project, trace_id)
        if len(again) != len(spans):
            spans, quiet_since = again, time.monotonic()
    return spans


def _read_trace(dashboard: str, project: str, trace_id: str) -> list[SpanRecord]:
    spans: list[SpanRecord] = []
    cursor: str | None = None
    while True:
        query = [
            ("trace_id", trace_id),
            ("limit", "1000"),
            ("sort", "start_time"),
            ("order", "asc"),
        ]
        if cursor:
            query.append(("cursor", cursor))
        page = _get(_spans_url(dashboard, project, query), 10)
        spans.extend(SpanRecord.from_api(raw) for raw in page.get("data") or [])
        cursor = page.get("next_cursor")
        if not cursor:
            return sorted(spans, key=lambda s: (s.start, s.parent_id is not None))


def _depths(spans: Sequence[SpanRecord]) -> dict[str, int]:
    parents = {s.span_id: s.parent_id for s in spans}
    depths: dict[str, int] = {}
    for span in spans:
        depth, parent, seen = 0, span.parent_id, {span.span_id}
        while parent in parents and parent not in seen:
            seen.add(parent)
            depth, parent = depth + 1, parents[parent]
        depths[span.span_id] = depth
    return depths


def format_waterfall(spans: Sequence[SpanRecord], width: int = 30) -> str:
    """Draw the trace: service, span (indented by depth), start offset, duration, a bar and
    the key attributes of each span."""
    if not spans:
        return "(no spans)"
    origin = min(s.start for s in spans)
    total_ms = max(max(s.end for s in spans) - origin for s in spans).total_seconds() * 1000
    depths = _depths(spans)
    lines = [
        f"trace {spans[0].trace_id}  {len(spans)} spans  {total_ms:.1f} ms",
        f"{'service':<10} {'span':<44} {'start ms':>9} {'dur ms':>8}  timeline",
    ]
    scale = width / total_ms if total_ms > 0 else 0.0
    for span in spans:
        offset_ms = (span.start - origin).total_seconds() * 1000
        left = min(width - 1, int(offset_ms * scale))
        bar = " " * left + "█" * max(1, min(width - left, round(span.duration_ms * scale)))
        name = ("  " * depths[span.span_id] + span.name)[:44]
        error = "  ERROR" if span.status == "ERROR" else ""
        lines.append(
            f"{span.service:<10} {name:<44} {offset_ms:>9.1f} {span.duration_ms:>8.1f}  "
            f"{bar:<{width}}{error}"
        )
        shown = [f"{k}={span.attributes[k]}" for k in KEY_ATTRIBUTES if k in span.attributes]
        if shown:
            lines.append(" " * 11 + "  " * depths[span.span_id] + "  " + " ".join(shown))
    return "\n".join(lines)

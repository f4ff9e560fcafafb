"""Reading a trace back from Phoenix's answer and drawing it as a waterfall."""

from __future__ import annotations

from typing import Any

import pytest

from shared.platform.traces import SpanRecord, flatten, format_waterfall

pytestmark = pytest.mark.observability


def raw(
    span_id: str, parent: str | None, name: str, start_ms: int, end_ms: int, **attrs: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "context": {"trace_id": "ab" * 16, "span_id": span_id},
        "parent_id": parent,
        "span_kind": attrs.pop("kind", "UNKNOWN"),
        "start_time": f"2026-11-27T08:00:00.{start_ms:03d}000+00:00",
        "end_time": f"2026-11-27T08:00:00.{end_ms:03d}000+00:00",
        "status_code": attrs.pop("status", "OK"),
        "attributes": attrs,
    }


def test_nested_attributes_are_flattened_to_dotted_names() -> None:
    nested = {
        "messaging": {"system": "kafka", "kafka": {"offset": 3}},
        "retrieval": {"documents": [{"document": {"score": 0.9}}, {"document": {"score": 0.5}}]},
        "tags": ["a", "b"],
    }
    assert flatten(nested) == {
        "messaging.system": "kafka",
        "messaging.kafka.offset": 3,
        "retrieval.documents.0.document.score": 0.9,
        "retrieval.documents.1.document.score": 0.5,
        "tags": ["a", "b"],
    }


def test_phoenix_span_kind_comes_back_as_the_openinference_attribute() -> None:
    span = SpanRecord.from_api(raw("r", None, "retrieve", 0, 5, kind="RETRIEVER"))
    assert span.attributes["openinference.span.kind"] == "RETRIEVER"
    assert span.duration_ms == pytest.approx(5)
    plain = SpanRecord.from_api(raw("p", None, "process t", 0, 5))
    assert "openinference.span.kind" not in plain.attributes
    assert plain.service == "?"


def test_waterfall_shows_services_nesting_offsets_and_key_attributes() -> None:
    spans = [
        SpanRecord.from_api(s)
        for s in (
            raw(
                "a",
                None,
                "process pillars.requests.v1",
                0,
                100,
                **{
                    "pillars.service": "ingestion",
                    "messaging.consumer.group.name": "pillars.ingestion.requests",
                },
            ),
            raw(
                "b",
                "a",
                "inference answer",
                20,
                60,
                kind="CHAIN",
                **{"pillars.service": "inference", "pillars.variant": "top3"},
            ),
            raw(
                "c",
                "b",
                "inference retrieve",
                25,
                50,
                kind="RETRIEVER",
                status="ERROR",
                **{"pillars.service": "inference"},
            ),
        )
    ]
    text = format_waterfall(spans, width=10)
    lines = text.splitlines()
    assert lines[0] == f"trace {'ab' * 16}  3 spans  100.0 ms"
    rows = [line for line in lines[2:] if not line.startswith(" ")]
    assert rows[0].startswith("ingestion  process pillars.requests.v1")
    assert rows[1].startswith("inference    inference answer")  # one level down
    assert rows[2].startswith("inference      inference retrieve")  # two levels down
    assert " 20.0 " in rows[1]
    assert " 40.0 " in rows[1]
    assert rows[2].endswith("ERROR")
    assert "messaging.consumer.group.name=pillars.ingestion.requests" in text
    assert "openinference.span.kind=CHAIN" in text
    assert "pillars.variant=top3" in text
    assert "██" in rows[1]
    assert format_waterfall([]) == "(no spans)"

"""What people watching the platform see: one readable trace in `pillars up`'s dashboard,
`pillars trace`, and every service's Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Sequence

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.contracts.topics import Topic, consumer_group, topic_name
from shared.platform.client import PillarsClient
from shared.platform.demo import run_demo
from shared.platform.traces import SpanRecord, fetch_trace
from tests.e2e.conftest import RunningPlatform

pytestmark = pytest.mark.observability

CHAIN = {"ingestion", "embedding", "inference", "evaluator"}


async def whole_trace(dashboard: str, request_id: str) -> list[SpanRecord]:
    """Wait until the dashboard holds the request's spans from every service of the chain."""
    deadline = time.monotonic() + 60
    while True:
        # Parents end (and are exported) after their children: wait for the trace to settle.
        spans = await asyncio.to_thread(fetch_trace, dashboard, request_id, wait_s=30, settle_s=2)
        stamped = {s.service for s in spans if "pillars.request_id" in s.attributes}
        if stamped >= CHAIN and any(s.name.startswith("evaluator") for s in spans):
            return spans
        assert time.monotonic() < deadline, sorted({s.service for s in spans})
        await asyncio.sleep(1)


def consumer_span(spans: Sequence[SpanRecord], topic: Topic, service: str) -> SpanRecord:
    name = f"process {topic_name(topic, 'pillars')}"
    matches = [s for s in spans if s.name == name and s.service == service]
    assert matches, f"no {name!r} span in {sorted({s.name for s in spans})}"
    return matches[0]


def without_shadows(spans: list[SpanRecord]) -> list[SpanRecord]:
    """Drop the spans of shadow answers (a `pillars.shadow` span and all below it)."""
    roots = {s.span_id for s in spans if s.attributes.get("pillars.shadow") is True}
    parents = {s.span_id: s.parent_id for s in spans}

    def shadowed(span: SpanRecord) -> bool:
        node: str | None = span.span_id
        seen: set[str] = set()
        while node is not None and node not in seen:
            if node in roots:
                return True
            seen.add(node)
            node = parents.get(node)
        return False

    return [s for s in spans if not shadowed(s)]


async def test_one_request_is_one_readable_trace_in_the_dashboard(
    client: PillarsClient, tenant: str, dashboard: str, platform: RunningPlatform
) -> None:
    [prediction, *_] = await run_demo(client, tenant=tenant, timeout_s=120)
    spans = await whole_trace(dashboard, prediction.request_id)

    # One trace, and it is the one the prediction names.
    assert {s.trace_id for s in spans} == {prediction.trace_id}

    # Kafka hops in the messaging conventions (pillars up opts in to messaging/dup). The
    # embedding service consumes requests in batches: its batch span is a trace of its own,
    # and the request's trace continues in a span per request, linked to it.
    for topic, service in (
        (Topic.REQUESTS, "ingestion"),
        (Topic.REQUESTS_EMBEDDED, "inference"),
        (Topic.PREDICTIONS, "evaluator"),
    ):
        attributes = consumer_span(spans, topic, service).attributes
        assert attributes["messaging.system"] == "kafka"
        assert attributes["messaging.operation.type"] == "process"
        assert attributes["messaging.destination.name"] == topic_name(topic, "pillars")
        assert attributes["messaging.consumer.group.name"] == consumer_group(
            "pillars", service, topic
        )
        assert isinstance(attributes["messaging.destination.partition.id"], str)
        assert attributes["messaging.client.id"] == f"pillars-{service}"
        assert isinstance(attributes["messaging.kafka.offset"], int)
        assert attributes["messaging.kafka.message.key"].endswith(prediction.request_id)
    sends = [s for s in spans if s.attributes.get("messaging.operation.type") == "send"]
    assert {s.name for s in sends} >= {
        f"send {topic_name(Topic.PREDICTIONS, 'pillars')}",
        f"send {topic_name(Topic.REQUESTS_EMBEDDED, 'pillars')}",
    }

    # The shadow arm answers in the same trace, marked as such; the rest is the live answer.
    shadow_chains = [s for s in spans if s.attributes.get("pillars.shadow") is True]
    assert all(s.attributes["pillars.variant"] == "router-shadow" for s in shadow_chains)
    spans = without_shadows(spans)

    # Model work in OpenInference's kinds, with what LLM-aware dashboards render.
    by_kind = {s.attributes.get("openinference.span.kind"): s for s in spans}
    assert {"EMBEDDING", "RETRIEVER", "LLM", "CHAIN", "EVALUATOR"} <= set(by_kind)
    assert by_kind["EMBEDDING"].attributes["embedding.model_name"] == "all-MiniLM-L6-v2"
    assert by_kind["EMBEDDING"].attributes["embedding.embeddings.0.embedding.text"] == (
        prediction.query
    )
    retriever = by_kind["RETRIEVER"].attributes
    assert retriever["retrieval.documents.0.document.score"] == pytest.approx(
        prediction.sources[0].score, abs=1e-6
    )
    assert retriever["retrieval.documents.0.document.content"] == prediction.sources[0].text
    llm = by_kind["LLM"].attributes
    assert llm["llm.model_name"] == prediction.model.name
    assert llm["llm.token_count.total"] == prediction.input_tokens + prediction.output_tokens
    assert by_kind["CHAIN"].attributes["output.value"] == prediction.answer

    # The tenant and the arm are on every span pillars opened for the request.
    stamped = [s for s in spans if "pillars.request_id" in s.attributes]
    assert {s.service for s in stamped} >= CHAIN
    for span in stamped:
        assert span.attributes["pillars.tenant"] == tenant
        if span.service != "ingestion" or "pillars.variant" in span.attributes:
            assert span.attributes["pillars.variant"] == prediction.variant, span.name

    # `pillars trace` draws the same trace from the dashboard.
    shown = await asyncio.to_thread(platform.cli, "trace", prediction.request_id)
    assert shown.returncode == 0, shown.stderr
    assert f"trace {prediction.trace_id}" in shown.stdout
    for service in CHAIN:
        assert f"\n{service:<10} " in shown.stdout
    assert f"process {topic_name(Topic.REQUESTS_EMBEDDED, 'pillars')}" in shown.stdout
    assert "openinference.span.kind=RETRIEVER" in shown.stdout
    missing = await asyncio.to_thread(platform.cli, "trace", "no-such-request", "--wait", "1")
    assert missing.returncode == 1
    assert "no trace of request 'no-such-request'" in missing.stderr


def scrape(platform: RunningPlatform, service: str) -> str:
    """Return the metrics page of the first replica of `service`, found as Prometheus would."""
    targets = platform.data_dir / "prometheus-targets"
    [entry] = json.loads((targets / f"{service}-1.json").read_text())
    assert entry["labels"] == {"service": service}
    url = f"http://{entry['targets'][0]}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read().decode()


def samples(page: str, name: str, **labels: str) -> list[float]:
    """Return the values of `name`'s samples in a metrics page whose labels include `labels`."""
    return [
        sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]


async def test_every_service_serves_prometheus_metrics(
    client: PillarsClient, tenant: str, platform: RunningPlatform
) -> None:
    await run_demo(client, tenant=tenant, timeout_s=120)
    services = (*sorted(CHAIN), "feedback", "scaler")
    pages = {s: await asyncio.to_thread(scrape, platform, s) for s in services}
    for service in ("ingestion", "embedding", "inference", "evaluator", "feedback"):
        received = samples(
            pages[service], "faststream_received_messages_total", app_name=f"pillars-{service}"
        )
        assert sum(received) > 0, service
    hops = samples(pages["inference"], "pillars_hop_latency_seconds_count", service="inference")
    assert sum(hops) > 0
    assert sum(samples(pages["inference"], "pillars_predictions_total")) > 0
    assert sum(samples(pages["inference"], "pillars_retrieval_duration_seconds_count")) > 0
    for kind in ("queries", "documents"):
        assert sum(samples(pages["embedding"], "pillars_embed_batch_size_count", kind=kind)) > 0
    assert sum(samples(pages["evaluator"], "pillars_retrieval_relevance_count")) > 0
    group = consumer_group("pillars", "embedding", Topic.CHUNKS)
    assert samples(pages["scaler"], "pillars_consumer_lag_messages", consumer_group=group)
    assert samples(pages["scaler"], "pillars_desired_replicas", service="embedding")

"""The whole chain: six service processes, the real broker and database, one trace."""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.parse
import urllib.request
import uuid

import asyncpg

from shared.contracts.events import (
    Chunk,
    DocumentChunked,
    DocumentIndexed,
    Evaluation,
    Event,
    Feedback,
    InferenceRequest,
    ModelRef,
    Outcome,
    Prediction,
    RequestAccepted,
    RequestEmbedded,
    utcnow,
)
from shared.contracts.topics import CONSUMED_BY, Topic, consumer_group, topic_name
from shared.platform.client import PillarsClient
from shared.platform.demo import DEMO_QUESTIONS, demo_documents, run_demo
from shared.platform.runtime.stack import Endpoints
from shared.platform.runtime.supervisor import SERVICES
from shared.platform.traces import fetch_trace
from tests.e2e.conftest import RunningPlatform

CHAIN = {"ingestion", "embedding", "inference", "evaluator"}


async def wait_for(topic: Topic, client: PillarsClient, send, match, timeout_s: float = 90):  # type: ignore[no-untyped-def]
    """Start watching `topic`, run `send()`, return the first event that `match`es."""
    watch = await client.watch(topic)
    try:
        await send()
        events = await watch.collect(lambda evs: any(match(e) for e in evs), timeout_s)
        return next(e for e in events if match(e))
    finally:
        await watch.stop()


async def test_documents_and_question_become_a_traced_prediction(
    client: PillarsClient, tenant: str, dashboard: str
) -> None:
    predictions = await run_demo(client, tenant=tenant, timeout_s=120)
    for question, prediction in zip(DEMO_QUESTIONS, predictions, strict=True):
        assert prediction.query == question.query
        assert prediction.sources, prediction
        assert prediction.sources[0].document_id == question.expected_document
        assert prediction.answer == prediction.sources[0].text
        assert [s.service for s in prediction.stages] == ["ingestion", "embedding", "inference"]
        assert prediction.variant in {"dense", "hybrid"}
        assert len(prediction.sources) == 5
        assert {s.mode for s in prediction.sources} == {prediction.variant}

    trace_id = predictions[0].trace_id
    assert trace_id is not None
    deadline = time.monotonic() + 30
    while True:  # the dashboard has the request's whole journey as one trace
        spans = await asyncio.to_thread(
            fetch_trace, dashboard, predictions[0].request_id, wait_s=30
        )
        assert {s.trace_id for s in spans} == {trace_id}
        if {s.service for s in spans} >= CHAIN:
            break
        assert time.monotonic() < deadline, {s.service for s in spans}
        await asyncio.sleep(0.5)

    # Feedback on it: an outcome with the prediction's arm, and a span linked to its trace.
    first = predictions[0]
    feedback = Feedback(
        tenant=tenant, feedback_id="f1", request_id=first.request_id, kind="rating", value=5
    )
    outcome = await wait_for(
        Topic.OUTCOMES,
        client,
        lambda: client.publish(Topic.FEEDBACK, feedback),
        lambda e: isinstance(e, Outcome) and e.tenant == tenant,
    )
    assert (outcome.variant, outcome.value) == (first.variant, 5)
    # Its span is linked to the prediction's trace (Phoenix drops links; the id is kept too).
    deadline = time.monotonic() + 30
    feedback_trace = None
    while feedback_trace is None:
        assert time.monotonic() < deadline, "no feedback span names the prediction's trace"
        feedback_trace = await asyncio.to_thread(linked_feedback_trace, dashboard, trace_id)
        await asyncio.sleep(0.5)
    assert feedback_trace != trace_id


def linked_feedback_trace(dashboard: str, trace_id: str) -> str | None:
    """Return the trace of a feedback span whose linked trace is `trace_id`, if one arrived."""
    url = f"{dashboard}/v1/projects/pillars/spans?" + urllib.parse.urlencode(
        {
            "attribute": f'pillars.linked_trace_id:"{trace_id}"',
            "name": f"process {topic_name(Topic.FEEDBACK, 'pillars')}",
        }
    )
    with urllib.request.urlopen(url, timeout=10) as reply:
        spans = json.load(reply)["data"]
    return str(spans[0]["context"]["trace_id"]) if spans else None


async def test_resending_a_document_adds_no_chunks(
    client: PillarsClient, tenant: str, endpoints: Endpoints
) -> None:
    [document] = demo_documents(tenant, ("csv",))

    def indexed(e: Event) -> bool:
        return isinstance(e, DocumentIndexed) and e.tenant == tenant

    first = await wait_for(
        Topic.INDEXED, client, lambda: client.publish(Topic.DOCUMENTS, document), indexed
    )
    again = await wait_for(
        Topic.INDEXED, client, lambda: client.publish(Topic.DOCUMENTS, document), indexed
    )
    assert first.chunks_written > 1
    assert (again.chunks_written, again.chunks_removed) == (0, 0)
    conn = await asyncpg.connect(endpoints.database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM pillars_chunks WHERE tenant = $1", tenant)
    finally:
        await conn.close()
    assert count == first.chunks_written


async def test_malformed_message_on_each_topic_is_dead_lettered_and_the_next_flows(
    client: PillarsClient, tenant: str, endpoints: Endpoints, platform: RunningPlatform
) -> None:
    now = utcnow()
    request = InferenceRequest(tenant=tenant, request_id="good", query="How do I write CSV rows?")
    accepted = RequestAccepted(
        **request.model_dump(exclude={"event_id", "request_id"}),
        request_id="accepted",
        experiment="e",
        variant="top3",
        top_k=3,
        request_occurred_at=now,
    )
    embedded = RequestEmbedded(
        **accepted.model_dump(exclude={"event_id", "request_id"}),
        request_id="embedded",
        query_vector=[1 / math.sqrt(384)] * 384,
        embedding_model=ModelRef(name="m", version="1"),
    )
    prediction = Prediction(
        tenant=tenant,
        request_id="predicted",
        query="q",
        experiment="e",
        variant="top3",
        answer="a",
        sources=[],
        model=ModelRef(name="m", version="1"),
        embedding_model=ModelRef(name="m", version="1"),
        request_occurred_at=now,
        stages=[],
    )
    chunked = DocumentChunked(
        tenant=tenant,
        document_id="direct",
        chunks=[Chunk(chunk_id=uuid.uuid4(), index=0, text="written to chunks")],
        version=1,
        source_occurred_at=now,
    )
    [document] = demo_documents(tenant, ("functools",))
    feedback = Feedback(tenant=tenant, feedback_id="fb", request_id="predicted", kind="click")

    def by(kind: type[Event], key: str, value: str):  # type: ignore[no-untyped-def]
        return lambda e: isinstance(e, kind) and e.tenant == tenant and getattr(e, key) == value

    cases = [
        (Topic.DOCUMENTS, document, Topic.INDEXED, by(DocumentIndexed, "document_id", "functools")),
        (Topic.CHUNKS, chunked, Topic.INDEXED, by(DocumentIndexed, "document_id", "direct")),
        (Topic.REQUESTS, request, Topic.PREDICTIONS, by(Prediction, "request_id", "good")),
        (
            Topic.REQUESTS_ACCEPTED,
            accepted,
            Topic.PREDICTIONS,
            by(Prediction, "request_id", "accepted"),
        ),
        (
            Topic.REQUESTS_EMBEDDED,
            embedded,
            Topic.PREDICTIONS,
            by(Prediction, "request_id", "embedded"),
        ),
        (
            Topic.PREDICTIONS,
            prediction,
            Topic.EVALUATIONS,
            by(Evaluation, "request_id", "predicted"),
        ),
        (Topic.FEEDBACK, feedback, Topic.OUTCOMES, by(Outcome, "feedback_id", "fb")),
    ]
    for topic, good, result_topic, match in cases:
        key = good.message_key  # same key: same partition, the good message is behind the bad

        async def send(topic: Topic = topic, good: Event = good, key: bytes = key) -> None:
            await client.publish_raw(topic, b'{"tenant": "' + tenant.encode() + b'", broken', key)
            await client.publish(topic, good)

        await wait_for(result_topic, client, send, match)

    for topic, good, *_ in cases:
        refused = [r for r in await client.dead_letters(topic) if r.key == good.message_key]
        consumers = {dict(r.headers)["pillars_dlq_consumer"].decode() for r in refused}
        expected = {
            consumer_group("pillars", service, topic)
            for service, consumed in CONSUMED_BY.items()
            if topic in consumed
        }
        assert consumers == expected, topic
        for record in refused:
            assert record.value is not None
            assert b"broken" in record.value
            assert dict(record.headers)["pillars_dlq_reason"].startswith(b"ValidationError")
    assert all(p.is_running() for p in platform.services), "a bad message stopped a service"
    assert len(platform.services) == len(SERVICES)


def test_pillars_demo_prints_predictions(platform: RunningPlatform) -> None:
    result = platform.cli("demo", "--timeout", "120")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Q: ") == len(DEMO_QUESTIONS)
    assert "sources: json#" in result.stdout
    assert "trace: " in result.stdout
    assert "variant: retrieval-mode/" in result.stdout

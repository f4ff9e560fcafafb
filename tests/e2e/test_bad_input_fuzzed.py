"""Bad input, fuzzed: generated bad records on every consumed topic, between good ones, on
the running platform. Every bad record lands in its topic's DLQ (for each service that
reads the topic) with a reason, every good one is processed, every consumer group's lag
returns to 0, and no service process dies or restarts.

Hypothesis draws the records (`bad_records`: EXAMPLES per topic and kind); they are then
published in one broker session, because a platform is far too slow to start per example.
Good records go in as business systems send them (requests, documents, then feedback),
some without a key, with unknown extra fields or with control characters; what flows
from them crosses every internal topic. On run-time configuration topics (experiments,
models, training) only bad records are sent: a good one would change the platform.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings

from services.scaler.adapters.kafka_lag import KafkaLagProbe
from shared.contracts.events import (
    DocumentChanged,
    DocumentIndexed,
    Event,
    Feedback,
    InferenceRequest,
    Outcome,
    Prediction,
)
from shared.contracts.topics import (
    BROADCAST,
    CONSUMED,
    CONSUMED_BY,
    MAX_MESSAGE_BYTES,
    Topic,
    all_consumer_groups,
    consumer_group,
    topic_name,
)
from shared.platform.client import PillarsClient
from tests.e2e.bad_records import CONTROL, KINDS, BadRecord, bad_records
from tests.e2e.conftest import RunningPlatform

EXAMPLES = 2  # per (topic, kind): 12 topics x 11 kinds x 2 = 264 bad records
GOOD = 12  # good requests and documents, and feedback for each request
Placed = tuple[str, int, int]  # (Kafka topic, partition, offset)


def draw_bad_records(tenant: str) -> list[BadRecord]:
    """Return EXAMPLES bad records of each kind for each consumed topic."""
    drawn: list[BadRecord] = []
    for topic in sorted(CONSUMED):
        for kind in KINDS:

            @settings(
                max_examples=EXAMPLES,
                phases=[Phase.generate],
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(bad_records(topic, kind, tenant))
            def collect(record: BadRecord) -> None:
                drawn.append(record)

            collect()
    assert {(r.topic, r.kind) for r in drawn} == {(t, k) for t in CONSUMED for k in KINDS}
    return drawn


def good_events(tenant: str, prefix: str) -> list[tuple[Topic, bytes, bytes | None]]:
    """Return good requests and documents as a plain client sends them, some keyless, some
    with extra fields or control characters."""
    out: list[tuple[Topic, bytes, bytes | None]] = []
    for i in range(GOOD):
        query = f"How do I sort a list? {CONTROL[i % len(CONTROL)]} ({i})"
        request = InferenceRequest(tenant=tenant, request_id=f"{prefix}r{i}", query=query)
        document = DocumentChanged(
            tenant=tenant, document_id=f"{prefix}d{i}", text=f"Sorting\x07 lists, part {i}."
        )
        for topic, event in ((Topic.REQUESTS, request), (Topic.DOCUMENTS, document)):
            body = json.loads(event.model_dump_json(exclude={"event_id", "occurred_at"}))
            if i % 3 == 1:
                body |= {"unknown_field": [1, {"x": None}], "another": "ignored"}
            out.append(
                (topic, json.dumps(body).encode(), None if i % 3 == 2 else event.message_key)
            )
    return out


def readers(topic: Topic) -> dict[str, str]:
    """Return each service reading `topic` and its group (a broadcast reader's: a prefix)."""
    return {s: consumer_group("pillars", s, topic) for s, ts in CONSUMED_BY.items() if topic in ts}


async def test_generated_bad_records_are_dead_lettered_and_good_ones_flow(
    client: PillarsClient, tenant: str, platform: RunningPlatform
) -> None:
    bootstrap = platform.endpoints.kafka_bootstrap_servers
    bad = draw_bad_records(tenant)
    good = good_events(tenant, "g")
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=MAX_MESSAGE_BYTES
    )
    await producer.start()
    watches = {t: await client.watch(t) for t in (Topic.PREDICTIONS, Topic.INDEXED)}
    placed: dict[Placed, BadRecord] = {}
    try:
        step = max(1, len(bad) // len(good))
        for n, record in enumerate(bad):
            sent = await producer.send_and_wait(
                topic_name(record.topic), record.value, key=record.key
            )
            placed[(sent.topic, sent.partition, sent.offset)] = record
            if n % step == 0 and good:
                topic, value, key = good.pop(0)
                await producer.send_and_wait(topic_name(topic), value, key=key)
        for topic, value, key in good:
            await producer.send_and_wait(topic_name(topic), value, key=key)
        asked = {f"gr{i}" for i in range(GOOD)}
        found = await watches[Topic.PREDICTIONS].collect(
            lambda evs: asked <= ids(evs, tenant, Prediction, "request_id"), 240
        )
        answered = [
            e for e in found if isinstance(e, Prediction) and e.tenant == tenant and not e.shadow
        ]
        assert all(p.rejected is None for p in answered)
        documents = {f"gd{i}" for i in range(GOOD)}
        await watches[Topic.INDEXED].collect(
            lambda evs: documents <= ids(evs, tenant, DocumentIndexed, "document_id"), 240
        )
        # Feedback once the predictions are known, between more bad feedback.
        outcomes = await client.watch(Topic.OUTCOMES)
        for i in range(GOOD):
            feedback = Feedback(
                tenant=tenant,
                feedback_id=f"gf{i}",
                request_id=f"gr{i}",
                kind="rating",
                value=1 + i % 5,
            )
            await client.publish(Topic.FEEDBACK, feedback)
        wanted = {f"gf{i}" for i in range(GOOD)}
        await outcomes.collect(lambda evs: wanted <= ids(evs, tenant, Outcome, "feedback_id"), 120)
        await outcomes.stop()
    finally:
        await producer.stop()
        for watch in watches.values():
            await watch.stop()

    missing = await missing_dead_letters(client, placed)
    deadline = time.monotonic() + 180
    while missing and time.monotonic() < deadline:
        await asyncio.sleep(3)
        missing = await missing_dead_letters(client, placed)
    assert not missing, f"{len(missing)} bad records not dead-lettered, e.g. {missing[:5]}"
    lagging = await lagging_groups(bootstrap)
    while lagging and time.monotonic() < deadline + 120:
        await asyncio.sleep(3)
        lagging = await lagging_groups(bootstrap)
    assert not lagging, f"consumer groups still lagging: {lagging}"
    assert all(p.is_running() for p in platform.services), "a bad record stopped a service"


def ids(events: list[Event], tenant: str, kind: type[Event], field: str) -> set[str]:
    return {getattr(e, field) for e in events if isinstance(e, kind) and e.tenant == tenant}


async def missing_dead_letters(client: PillarsClient, placed: dict[Placed, BadRecord]) -> list[str]:
    """Return, for each bad record not yet in its DLQ for every reader, what is missing."""
    seen: dict[Placed, set[str]] = {}
    for topic in {r.topic for r in placed.values()}:
        for refused in await client.dead_letters(topic):
            headers = {k: v.decode() for k, v in refused.headers}
            where = (
                headers["pillars_dlq_topic"],
                int(headers["pillars_dlq_partition"]),
                int(headers["pillars_dlq_offset"]),
            )
            if where in placed and headers["pillars_dlq_reason"].strip():
                seen.setdefault(where, set()).add(headers["pillars_dlq_consumer"])
    missing = []
    for where, record in placed.items():
        for service, group in readers(record.topic).items():
            broadcast = (service, record.topic) in BROADCAST
            got = seen.get(where, set())
            if not any(c == group or (broadcast and c.startswith(group + ".")) for c in got):
                missing.append(
                    f"{record.kind} on {record.topic} for {service}: {record.value!r:.80}"
                )
    return missing


async def lagging_groups(bootstrap: str) -> dict[str, int]:
    """Return each shared consumer group whose lag is not 0, with its lag."""
    topic_of = {
        consumer_group("pillars", s, t): t for s, topics in CONSUMED_BY.items() for t in topics
    }
    probe = KafkaLagProbe(bootstrap)
    await probe.start()
    try:
        lags = {
            group: (await probe.observe(group, topic_name(topic_of[group]))).lag
            for group in all_consumer_groups("pillars")
        }
    finally:
        await probe.stop()
    return {group: lag for group, lag in lags.items() if lag}

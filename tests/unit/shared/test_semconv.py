"""Kafka spans in the messaging conventions: opt-in parsing, attribute names, span names."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.semconv import (
    ConventionalKafkaTelemetry,
    Conventions,
    MessagingSpanNames,
    convert,
    messaging_conventions,
)
from shared.topics import Topic, consumer_group, topic_name

pytestmark = pytest.mark.observability

OLD = {
    "messaging.system": "kafka",
    "messaging.kafka.destination.partition": 2,
    "messaging.kafka.message.offset": 41,
    "messaging.kafka.message.key": b"acme/r1",
    "messaging.destination_publish.name": "pillars.predictions.v1",
    "messaging.kafka.consumer.group": "pillars.evaluator.predictions",
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Conventions.OLD),
        ("", Conventions.OLD),
        ("http", Conventions.OLD),
        ("messaging", Conventions.CURRENT),
        ("http, messaging", Conventions.CURRENT),
        ("messaging,messaging/dup", Conventions.BOTH),
        ("database/dup,messaging/dup", Conventions.BOTH),
    ],
)
def test_opt_in_is_read_as_the_transition_plan_defines(
    value: str | None, expected: Conventions
) -> None:
    environ = {} if value is None else {"OTEL_SEMCONV_STABILITY_OPT_IN": value}
    assert messaging_conventions(environ) is expected


def test_current_names_replace_the_older_ones() -> None:
    current = convert(OLD, Conventions.CURRENT)
    assert current == {
        "messaging.system": "kafka",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 41,
        "messaging.kafka.message.key": "acme/r1",
        "messaging.destination.name": "pillars.predictions.v1",
        "messaging.consumer.group.name": "pillars.evaluator.predictions",
    }


def test_older_names_stay_alone_or_beside_the_current_ones() -> None:
    old = convert(OLD, Conventions.OLD)
    assert old == OLD | {"messaging.kafka.message.key": "acme/r1"}
    both = convert(OLD, Conventions.BOTH)
    assert both == old | convert(OLD, Conventions.CURRENT)


def recording() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(MessagingSpanNames("evaluator", Conventions.BOTH))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_faststream_spans_carry_the_group_and_the_current_names() -> None:
    provider, exporter = recording()
    telemetry = ConventionalKafkaTelemetry(
        service="evaluator",
        prefix="pillars",
        client_id="pillars-evaluator",
        servers="kafka-0:9092,kafka-1:9092",
        conventions=Conventions.BOTH,
        tracer_provider=provider,
    )
    broker = KafkaBroker("kafka-0:9092", middlewares=[telemetry])
    topic = topic_name(Topic.PREDICTIONS, "pillars")
    seen: list[str] = []

    @broker.subscriber(topic, group_id=consumer_group("pillars", "evaluator", Topic.PREDICTIONS))
    async def handle(body: str) -> None:
        seen.append(body)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish("hello", topic, key=b"acme/r1")
    assert seen == ["hello"]

    spans = {s.name: s for s in exporter.get_finished_spans()}
    process = spans[f"process {topic}"]
    attributes = dict(process.attributes or {})
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.consumer.group.name"] == "pillars.evaluator.predictions"
    assert attributes["messaging.kafka.consumer.group"] == "pillars.evaluator.predictions"
    assert attributes["messaging.destination.name"] == topic
    assert attributes["messaging.kafka.message.key"] == "acme/r1"
    assert attributes["messaging.client.id"] == "pillars-evaluator"
    assert (attributes["server.address"], attributes["server.port"]) == ("kafka-0", 9092)
    assert attributes["pillars.service"] == "evaluator"
    send = spans[f"send {topic}"]
    assert dict(send.attributes or {})["messaging.operation.type"] == "send"
    assert "messaging.consumer.group.name" not in dict(send.attributes or {})


def test_span_names_stay_faststreams_under_the_older_conventions() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(MessagingSpanNames("inference", Conventions.OLD))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.faststream")
    tracer.start_span("pillars.requests.v1 process").end()
    provider.get_tracer("pillars").start_span("pillars.requests.v1 process").end()
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["pillars.requests.v1 process", "pillars.requests.v1 process"]

    renamed = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(MessagingSpanNames("inference", Conventions.CURRENT))
    provider.add_span_processor(SimpleSpanProcessor(renamed))
    provider.get_tracer("opentelemetry.instrumentation.faststream").start_span(
        "pillars.requests.v1 process"
    ).end()
    provider.get_tracer("pillars").start_span("pillars.requests.v1 process").end()
    assert [s.name for s in renamed.get_finished_spans()] == [
        "process pillars.requests.v1",
        "pillars.requests.v1 process",  # not FastStream's: left alone
    ]

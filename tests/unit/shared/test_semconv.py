"""Kafka spans in the messaging conventions: opt-in, names, attributes, propagation, errors."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.contracts.topics import Topic, consumer_group, topic_name
from shared.kit.semconv import (
    ConventionalKafkaTelemetry,
    Conventions,
    convert,
    messaging_conventions,
)
from shared.kit.telemetry import ServiceAttribute

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
    provider.add_span_processor(ServiceAttribute("evaluator"))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def traced_broker(provider: TracerProvider, conventions: Conventions) -> KafkaBroker:
    telemetry = ConventionalKafkaTelemetry(
        service="evaluator",
        prefix="pillars",
        client_id="pillars-evaluator",
        servers="kafka-0:9092,kafka-1:9092",
        conventions=conventions,
        tracer_provider=provider,
    )
    return KafkaBroker("kafka-0:9092", middlewares=[telemetry])


async def test_kafka_spans_carry_the_group_and_the_current_names() -> None:
    provider, exporter = recording()
    broker = traced_broker(provider, Conventions.BOTH)
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
    assert attributes["messaging.destination_publish.name"] == topic
    assert attributes["messaging.kafka.message.key"] == "acme/r1"
    assert isinstance(attributes["messaging.destination.partition.id"], str)
    assert isinstance(attributes["messaging.kafka.destination.partition"], int)
    assert isinstance(attributes["messaging.kafka.offset"], int)
    assert attributes["messaging.message.body.size"] == len(b"hello")  # a str goes raw
    assert attributes["messaging.client.id"] == "pillars-evaluator"
    assert (attributes["server.address"], attributes["server.port"]) == ("kafka-0", 9092)
    assert attributes["pillars.service"] == "evaluator"
    send = spans[f"send {topic}"]
    assert dict(send.attributes or {})["messaging.operation.type"] == "send"
    assert "messaging.consumer.group.name" not in dict(send.attributes or {})
    # the record carried the send span's context: the process span continues its trace
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id


async def test_what_a_handler_publishes_continues_the_trace_even_when_returned() -> None:
    provider, exporter = recording()
    broker = traced_broker(provider, Conventions.CURRENT)
    source, target = "pillars.requests.v1", "pillars.requests.accepted.v1"
    handled: list[str] = []

    @broker.subscriber(source, group_id="g")
    @broker.publisher(target)
    async def forward(body: str) -> str:
        return body.upper()

    @broker.subscriber(target, group_id="h")
    async def land(body: str) -> None:
        handled.append(body)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish("hi", source)
    assert handled == ["HI"]

    spans = {s.name: s for s in exporter.get_finished_spans()}
    first, forwarded, last = (
        spans[f"process {source}"],
        spans[f"send {target}"],
        spans[f"process {target}"],
    )
    assert {s.context.trace_id for s in spans.values()} == {first.context.trace_id}
    assert forwarded.parent is not None
    assert forwarded.parent.span_id == first.context.span_id
    assert last.parent is not None
    assert last.parent.span_id == forwarded.context.span_id
    # current names only: none of the older ones
    assert "messaging.kafka.message.offset" not in dict(first.attributes or {})
    assert "messaging.operation" not in dict(first.attributes or {})


async def test_a_failed_message_leaves_an_error_span() -> None:
    provider, exporter = recording()
    broker = traced_broker(provider, Conventions.OLD)

    @broker.subscriber("pillars.feedback.v1", group_id="g")
    async def fail(body: str) -> None:
        raise ValueError(f"cannot take {body}")

    async with TestKafkaBroker(broker) as test_broker:
        with pytest.raises(ValueError, match="cannot take"):
            await test_broker.publish("this", "pillars.feedback.v1")

    [process] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert process.name == "pillars.feedback.v1 process"  # the older conventions' name
    assert process.status.status_code is StatusCode.ERROR
    assert "cannot take this" in (process.status.description or "")
    assert [e.name for e in process.events] == ["exception"]
    assert dict(process.attributes or {})["messaging.operation"] == "process"

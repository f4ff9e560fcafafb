"""The HTTP API's lifecycle: nothing listens without a port, and accepted feedback is
published in a server span of its own."""

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.feedback.bootstrap import FeedbackDependencies, review_policy
from services.feedback.config import FeedbackSettings
from services.feedback.http_lifecycle import FeedbackHttpApi
from shared.contracts.events import Feedback
from tests.fakes import InMemoryLedger, InMemoryPark
from tests.unit.feedback.fakes import RecordedLabels

SETTINGS = FeedbackSettings(kafka_bootstrap_servers="unused:9092", feedback_http_port=None)
DEPS = FeedbackDependencies(
    SETTINGS, InMemoryLedger(), review_policy(SETTINGS), RecordedLabels(), InMemoryPark()
)


async def test_without_a_port_nothing_listens() -> None:
    broker = KafkaBroker()
    api = FeedbackHttpApi(
        lambda: DEPS,
        publisher=broker.publisher("pillars.feedback.v1"),
        tracer=TracerProvider(),
        source="/pillars/feedback",
    )
    await api.start()
    assert api.url is None
    await api.stop()


async def test_accepted_feedback_is_published_in_a_server_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    broker = KafkaBroker()
    seen: list[tuple[bytes, dict[str, str]]] = []

    @broker.subscriber("pillars.feedback.v1")
    async def feedback_topic(body: dict[str, object], message: KafkaMessage) -> None:
        seen.append((message.raw_message.key, message.headers))

    api = FeedbackHttpApi(
        lambda: DEPS,
        publisher=broker.publisher("pillars.feedback.v1"),
        tracer=provider,
        source="/pillars/feedback",
    )
    async with TestKafkaBroker(broker):
        await api.submit(Feedback(tenant="acme", feedback_id="f1", request_id="r1", kind="click"))
    [(key, headers)] = seen
    assert key == b"acme/r1"
    assert headers["ce_type"] == "dev.pillars.Feedback.v1"
    assert headers["ce_source"] == "/pillars/feedback"
    [span] = exporter.get_finished_spans()
    assert (span.name, span.kind) == ("POST /v1/feedback", trace.SpanKind.SERVER)
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/v1/feedback"
    assert span.attributes["pillars.tenant"] == "acme"
    assert span.attributes["pillars.request_id"] == "r1"

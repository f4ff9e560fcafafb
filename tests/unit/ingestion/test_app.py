"""Wiring only: FastStream's in-memory broker checks topics, keys and headers."""

from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.ingestion.app import create_app
from services.ingestion.config import IngestionSettings
from shared.contracts.events import InferenceRequest
from tests.fakes import InMemoryAssignments


async def test_request_is_published_accepted_with_key_and_cloudevents() -> None:
    app = create_app(IngestionSettings(kafka_bootstrap_servers="unused:9092"))
    broker = app.broker
    assert broker is not None
    assignments = InMemoryAssignments()  # the lifespan (and its Postgres) does not run here
    broker.context.set_global("assignments", assignments)
    seen = []

    @broker.subscriber("pillars.requests.accepted.v1")
    async def accepted(body: dict[str, object], message: KafkaMessage) -> None:
        seen.append((body, message.raw_message.key, message.headers))

    async with TestKafkaBroker(broker) as test_broker:
        request = InferenceRequest(tenant="acme", request_id="r1", query="q?", user_id="u1")
        await test_broker.publish(request, "pillars.requests.v1", key=request.message_key)
    [(body, key, headers)] = seen
    assert body["request_id"] == "r1"
    assert body["variant"] in {"top3", "top5"}
    assert assignments.rows == {("retrieval-depth", "u1"): body["variant"]}
    assert key == b"acme/r1"
    assert headers["ce_type"] == "dev.pillars.RequestAccepted.v1"

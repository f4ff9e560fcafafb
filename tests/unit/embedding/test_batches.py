"""Embedding's batches without FastStream: what each publishes, in whose trace, and when."""

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.embedding.batches import embed_batch, index_batch
from services.ingestion.handlers import chunk_document
from shared.contracts.events import (
    DocumentChanged,
    DocumentChunked,
    DocumentIndexed,
    Event,
    InferenceRequest,
    RequestAccepted,
    RequestEmbedded,
)
from shared.kit.batches import Received
from shared.kit.openinference import ModelWork
from tests.fakes import FakeEncoder, InMemoryIndex, WordTokenizer


class Published:
    """A `publish_in_trace` that remembers what it was asked to publish, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Event, Received[Any], str, ModelWork]] = []

    async def __call__(
        self, event: Event, cause: Received[Any], what: str, work: ModelWork
    ) -> None:
        self.calls.append((event, cause, what, work))


def received_chunks(document_id: str, text: str) -> Received[DocumentChunked]:
    doc = DocumentChanged(tenant="acme", document_id=document_id, text=text)
    chunked = chunk_document(
        doc, tokens=WordTokenizer(), chunk_size=20, overlap=0, max_bytes=10_000
    )
    return Received(chunked, {"traceparent": f"trace-of-{document_id}"})


def received_request(request_id: str, query: str) -> Received[RequestAccepted]:
    request = InferenceRequest(tenant="acme", request_id=request_id, query=query)
    accepted = RequestAccepted(
        **request.model_dump(),
        experiment="e",
        variant="a",
        top_k=3,
        request_occurred_at=request.occurred_at,
    )
    return Received(accepted, {"traceparent": f"trace-of-{request_id}"})


def batch_sizes(kind: str) -> tuple[float, float]:
    labels = {"kind": kind}
    count = REGISTRY.get_sample_value("pillars_embed_batch_size_count", labels) or 0.0
    total = REGISTRY.get_sample_value("pillars_embed_batch_size_sum", labels) or 0.0
    return count, total


async def test_each_indexed_document_is_published_in_its_own_trace_with_its_encoding() -> None:
    publish, encoder = Published(), FakeEncoder()
    batch = [received_chunks("d1", "word " * 50), received_chunks("d2", "other words")]
    count, total = batch_sizes("documents")
    await index_batch(batch, encoder=encoder, store=InMemoryIndex(), publish=publish)
    assert batch_sizes("documents") == (count + 1, total + 4)  # 3 chunks and 1
    assert [(cause, what) for _, cause, what, _ in publish.calls] == [
        (batch[0], "index document"),
        (batch[1], "index document"),
    ]
    event, _, _, work = publish.calls[0]
    assert isinstance(event, DocumentIndexed)
    assert (event.document_id, event.chunks_written) == ("d1", 3)
    assert work.name == "embed chunks"
    assert work.attributes["pillars.chunks"] == 3
    assert work.attributes["pillars.chunks_written"] == 3
    assert work.attributes["pillars.embed.batch_size"] == 4  # chunks in the whole batch
    assert work.attributes["embedding.model_name"] == encoder.model.name
    assert encoder.calls == [[c.text for r in batch for c in r.event.chunks]]


async def test_each_query_is_published_while_the_next_one_encodes() -> None:
    encoder, gate, both_out = FakeEncoder(), asyncio.Event(), asyncio.Event()
    publish = Published()

    async def held(event: Event, cause: Received[Any], what: str, work: ModelWork) -> None:
        await publish(event, cause, what, work)
        if len(publish.calls) == 2:
            both_out.set()
        await gate.wait()  # the broker has not acknowledged yet

    batch = [received_request("r1", "alpha beta"), received_request("r2", "gamma")]
    count, total = batch_sizes("queries")
    embedding = asyncio.create_task(embed_batch(batch, encoder=encoder, publish=held))
    await asyncio.wait_for(both_out.wait(), timeout=5)  # one at a time, this times out
    assert not embedding.done()  # both out, neither acknowledged
    gate.set()
    await embedding
    assert batch_sizes("queries") == (count + 1, total + 2)
    assert encoder.calls == [["alpha beta"], ["gamma"]]
    event, cause, what, work = publish.calls[0]
    assert isinstance(event, RequestEmbedded)
    assert (cause, what, event.request_id) == (batch[0], "embed query", "r1")
    assert work.name == "embed query"
    assert (work.started_at, work.finished_at) == (
        event.stages[-1].started_at,
        event.stages[-1].finished_at,
    )
    assert work.attributes["pillars.embed.batch_size"] == 2


async def test_a_failed_publish_fails_the_batch_after_the_others_are_out() -> None:
    publish = Published()

    async def refused_first(event: Event, cause: Received[Any], what: str, work: ModelWork) -> None:
        await publish(event, cause, what, work)
        if cause.event.request_id == "r1":
            raise RuntimeError("broker said no")

    batch = [received_request("r1", "alpha"), received_request("r2", "beta")]
    with pytest.raises(RuntimeError, match="broker said no"):
        await embed_batch(batch, encoder=FakeEncoder(), publish=refused_first)
    assert [cause for _, cause, _, _ in publish.calls] == batch


async def test_an_empty_request_batch_encodes_and_counts_nothing() -> None:
    encoder, publish = FakeEncoder(), Published()
    before = batch_sizes("queries")
    await embed_batch([], encoder=encoder, publish=publish)
    assert (encoder.calls, publish.calls, batch_sizes("queries")) == ([], [], before)

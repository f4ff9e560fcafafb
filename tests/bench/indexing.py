"""Indexing throughput: the pipeline from `documents` to `indexed` against raw `encode`.

Usage: python tests/bench/indexing.py [--quick | --documents N]

The corpus is the Python 3.11 documentation (Debian's python3.11-doc, see
DATA.md): --quick indexes the FAQ pages (~2 minutes), the default the FAQ plus
a fixed sample. The same chunks are encoded (a) by `SentenceTransformer.encode`
directly, same model, batch size and threads as the embedding service, (a') by
the service's configured backend called directly (PILLARS_EMBEDDING_BACKEND),
and (b) by the running pipeline: publish to `documents`, wait for every
`indexed`. ratio = (b) / (a) in chunks per second; ratio_same_backend = (b) / (a'),
the pipeline's overhead over its own encoder. Also: freshness (source event time to
searchable) p50/p99 and the embedding service's peak RSS. Last line: one JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

import psutil
from benchkit import client_security, pct, running_platform

from services.embedding.config import EmbeddingSettings
from services.ingestion.adapters.model_tokenizer import ModelTokenizer
from services.ingestion.chunking import split_passages
from services.ingestion.config import IngestionSettings
from shared.contracts.events import DocumentChanged, DocumentIndexed
from shared.contracts.topics import Topic
from shared.encoders.loading import load_encoder
from shared.encoders.model_folder import packaged_model_path
from shared.encoders.sentence_encoder import SentenceEncoder
from shared.encoders.threaded_encoder import ThreadedEncoder
from shared.kit.settings import PillarsSettings
from shared.platform.client import PillarsClient
from shared.platform.datasets import dataset_documents
from shared.platform.runtime.stack import Endpoints


def corpus(quick: bool, sample: int) -> list[DocumentChanged]:
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    cache = PillarsSettings().data_dir / "datasets"
    documents = dataset_documents("python-docs", cache, tenant, sample=0 if quick else sample)
    return [d for d in documents if d.text.strip()]


def chunk_texts(documents: list[DocumentChanged]) -> list[str]:
    """The exact passages the ingestion service will produce, with its default settings."""
    settings = IngestionSettings()
    tokens = ModelTokenizer(packaged_model_path())
    return [
        passage
        for d in documents
        for passage in split_passages(
            d.text,
            tokens=tokens,
            size=settings.chunk_size_tokens,
            overlap=settings.chunk_overlap_tokens,
        )
    ]


def raw_encode(encoder: ThreadedEncoder, texts: list[str]) -> float:
    """Chunks per second of one direct `encode` over all texts."""
    encoder.encode_sync(texts[:16])  # warm up
    started = time.perf_counter()
    encoder.encode_sync(texts)
    return len(texts) / (time.perf_counter() - started)


def embedding_processes() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if "services.embedding" in " ".join(proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def peak_rss_mb(processes: list[psutil.Process]) -> float:
    """The kernel's high-water mark of resident memory (VmHWM) of the embedding service."""
    peaks = []
    for proc in processes:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


async def pipeline(
    endpoints: Endpoints, documents: list[DocumentChanged]
) -> tuple[float, int, list[float]]:
    async with PillarsClient(
        endpoints.kafka_bootstrap_servers, source="/bench", security=client_security(endpoints)
    ) as client:
        indexed = await client.watch(Topic.INDEXED)
        wanted = {d.document_id for d in documents}
        seen: dict[str, DocumentIndexed] = {}
        started = time.perf_counter()
        for document in documents:
            await client.publish(Topic.DOCUMENTS, document)
        async with asyncio.timeout(3600):
            async for event in indexed.stream():
                if isinstance(event, DocumentIndexed) and event.document_id in wanted:
                    seen[event.document_id] = event
                    if len(seen) == len(wanted):
                        break
        seconds = time.perf_counter() - started
        await indexed.stop()
    chunks = sum(e.chunks_written for e in seen.values())
    freshness = [
        (e.searchable_at - e.source_occurred_at).total_seconds() * 1000 for e in seen.values()
    ]
    return chunks / seconds, chunks, freshness


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="the FAQ pages only")
    parser.add_argument("--documents", type=int, default=40, help="sampled pages beside the FAQ")
    args = parser.parse_args()
    documents = corpus(args.quick, args.documents)
    texts = chunk_texts(documents)
    print(f"corpus: {len(documents)} documents, {len(texts)} chunks")
    settings = EmbeddingSettings()
    torch = SentenceEncoder(
        packaged_model_path(),
        batch_size=settings.embedding_batch_size,
        threads=settings.embedding_threads,
    )
    raw = raw_encode(torch, texts)
    print(f"(a) raw SentenceTransformer.encode: {raw:.1f} chunks/s")
    backend = settings.embedding_backend
    same = raw if backend == "torch" else raw_encode(load_encoder(settings), texts)
    print(f"(a') raw encode on the service's backend ({backend}): {same:.1f} chunks/s")
    with running_platform() as (endpoints, _):
        processes = embedding_processes()
        rate, chunks, freshness = asyncio.run(pipeline(endpoints, documents))
        rss = peak_rss_mb(processes)
    print(f"(b) pipeline documents -> indexed: {rate:.1f} chunks/s ({chunks} chunks)")
    figures = {
        "documents": len(documents),
        "chunks": chunks,
        "raw_chunks_per_s": round(raw, 2),
        "pipeline_chunks_per_s": round(rate, 2),
        "ratio": round(rate / raw, 3),
        "backend": backend,
        "raw_backend_chunks_per_s": round(same, 2),
        "ratio_same_backend": round(rate / same, 3),
        "freshness_p50_ms": round(pct(freshness, 50), 1),
        "freshness_p99_ms": round(pct(freshness, 99), 1),
        "embedding_peak_rss_mb": round(rss, 1),
    }
    print(
        f"ratio {figures['ratio']} (target >= 0.90), over the same backend "
        f"{figures['ratio_same_backend']}; freshness p50 {figures['freshness_p50_ms']} "
        f"ms, p99 {figures['freshness_p99_ms']} ms; embedding peak RSS {rss:.0f} MB"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

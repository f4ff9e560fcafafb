"""The embedding service's own Prometheus series (served with the kit's on its endpoint)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "BACKFILLED",
    "EMBED_BATCH_SIZE",
    "observe_backfilled",
    "observe_document_batch",
    "observe_query_batch",
]

EMBED_BATCH_SIZE = Histogram(
    "pillars_embed_batch_size",
    "Texts per batch (documents: chunks encoded together; queries: requests consumed "
    "together, each encoded on its own).",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)


def observe_document_batch(chunks: int) -> None:
    """Count a batch of documents by the chunks it carried."""
    EMBED_BATCH_SIZE.labels("documents").observe(chunks)


def observe_query_batch(requests: int) -> None:
    """Count a batch of requests by how many were consumed together."""
    EMBED_BATCH_SIZE.labels("queries").observe(requests)


BACKFILLED = Counter(
    "pillars_embedding_backfilled_chunks",
    "Chunk vectors of a secondary model set by the background fill.",
    ["model"],
)


def observe_backfilled(model: str, chunks: int) -> None:
    """Count the vectors of `model` a background fill round set."""
    BACKFILLED.labels(model).inc(chunks)

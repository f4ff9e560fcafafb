"""Embedding settings: the model, micro-batching and the pgvector index."""

from __future__ import annotations

from pydantic import Field

from shared.encoders import EncoderSettings

__all__ = ["EmbeddingSettings"]


class EmbeddingSettings(EncoderSettings):
    """`PILLARS_*` settings of the embedding service."""

    chunk_batch_max_records: int = Field(
        default=32, ge=1, description="Chunk messages gathered into one batch."
    )
    chunk_batch_wait_ms: int = Field(
        default=200, ge=0, description="Longest wait to fill a chunk batch."
    )
    request_batch_max_records: int = Field(
        default=32, ge=1, description="Request queries encoded together at most."
    )
    request_batch_wait_ms: int = Field(
        default=50, ge=0, description="Poll wait for requests when none is buffered."
    )
    hnsw_build_memory: str = Field(
        default="1GB",
        pattern=r"^[0-9]+(kB|MB|GB)$",
        description="maintenance_work_mem while the HNSW index builds (64MB: ~3.7x slower).",
    )
    hnsw_m: int = Field(default=16, ge=2, description="HNSW graph degree.")
    hnsw_ef_construction: int = Field(default=64, ge=4, description="HNSW build candidate list.")
    text_search_configs: dict[str, str] = Field(
        default_factory=dict,
        description="JSON: tenant -> Postgres text search configuration of its lexical index "
        '(e.g. {"acme": "english"}); checked against pg_ts_config at start.',
    )
    text_search_default: str = Field(
        default="simple",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="The text search configuration of tenants not in text_search_configs "
        "(simple: no stemming nor stop words, right for any language).",
    )

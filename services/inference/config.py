"""Inference settings: how retrieval searches the HNSW index."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.settings import PillarsSettings

__all__ = ["InferenceSettings"]


class InferenceSettings(PillarsSettings):
    """`PILLARS_*` settings of the inference service."""

    hnsw_ef_search: int = Field(
        default=200,
        ge=1,
        description="HNSW search candidate list (200: top-10 overlap with exact search >= 0.977).",
    )
    hnsw_iterative_scan: Literal["off", "relaxed_order", "strict_order"] = Field(
        default="relaxed_order",
        description="pgvector 0.8 iterative scan, so a tenant filter still returns k rows.",
    )

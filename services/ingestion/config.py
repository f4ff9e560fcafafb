"""Ingestion settings: chunking limits and the experiment that seeds a fresh database."""

from __future__ import annotations

from pydantic import Field

from shared.experiments import Experiment
from shared.kit.settings import PillarsSettings

__all__ = ["IngestionSettings"]


class IngestionSettings(PillarsSettings):
    """`PILLARS_*` settings of the ingestion service."""

    chunk_size_tokens: int = Field(
        default=200,
        ge=16,
        description="Most model tokens in a chunk; at most the model's window less 2.",
    )
    chunk_overlap_tokens: int = Field(
        default=32, ge=0, description="Tokens of whole sentences repeated in the next chunk."
    )
    max_document_bytes: int = Field(
        default=1_000_000, ge=1, description="Larger documents are refused to the DLQ."
    )
    experiment: Experiment = Field(
        default_factory=Experiment,
        description="JSON: name, salt, unit, arms[name, weight, solution, top_k, model_version, "
        "shadow]. Seeds a fresh database; then the version stored in Postgres is in force "
        "(`pillars experiment`), and its name is the experiment this service follows.",
    )

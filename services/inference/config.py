"""Inference settings: the solutions, the experiment that seeds a fresh database, and
retrieval."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from shared.experiments import Experiment
from shared.models.settings import ModelSettings

__all__ = ["CATALOG", "InferenceSettings"]

# The solutions that ship with pillars.
CATALOG = Path(__file__).parent / "catalog"


class InferenceSettings(ModelSettings):
    """`PILLARS_*` settings of the inference service."""

    solutions_dir: Path = Field(
        default=CATALOG,
        description="Folder of solution YAML files, validated at start-up.",
    )
    experiment: Experiment = Field(
        default_factory=Experiment,
        description="The same seed as ingestion's: every arm's solution must exist. Then the "
        "version stored in Postgres is in force (`pillars experiment`), and one naming a "
        "missing solution is refused.",
    )
    hnsw_ef_search: int = Field(
        default=200,
        ge=1,
        description="HNSW search candidate list (200: top-10 overlap with exact search >= 0.977).",
    )
    answers_keep_s: float = Field(
        default=86_400.0,
        gt=0,
        description="Seconds each answer is kept by its event id, so a request redelivered "
        "after a crash is answered again with the answer it first got.",
    )
    test_model_delays_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Test only: a delay before each use of a model version, as JSON "
        '{"name:version": ms}; makes a candidate slow on purpose (the loop\'s guardrail test).',
    )
    hnsw_iterative_scan: Literal["off", "relaxed_order", "strict_order"] = Field(
        default="relaxed_order",
        description="pgvector 0.8 iterative scan, so a tenant filter still returns k rows.",
    )

"""Ingestion settings: chunking limits and the experiment requests are assigned to."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from shared.settings import PillarsSettings

__all__ = ["Arm", "Experiment", "IngestionSettings"]


class Arm(BaseModel):
    """One arm of an experiment: its share of traffic and the retrieval depth it uses."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    weight: float = Field(gt=0)
    top_k: int = Field(default=3, ge=1, le=100)


class Experiment(BaseModel):
    """Weighted arms; a request's unit (user, session or request id) hashes to one arm."""

    name: str = "retrieval-depth"
    salt: str = "2026-11"
    unit: str = Field(default="user_id", pattern=r"^(user_id|session_id|request_id)$")
    arms: list[Arm] = Field(
        default_factory=lambda: [
            Arm(name="top3", weight=0.5, top_k=3),
            Arm(name="top5", weight=0.5, top_k=5),
        ],
        min_length=1,
    )

    @model_validator(mode="after")
    def _unique_arms(self) -> Experiment:
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name!r} has duplicate arm names: {names}")
        return self


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
        default_factory=Experiment, description="JSON: name, salt, unit, arms[name,weight,top_k]."
    )

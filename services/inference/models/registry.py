"""What the model registry records of a model version, and the port to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

__all__ = ["FORMATS", "Format", "ModelRecord", "ModelRegistry", "Stage"]

Stage = Literal["candidate", "production", "archived"]
Format = Literal["skops", "xgboost-json", "xgboost-ubj", "onnx", "safetensors", "pickle"]
FORMATS: tuple[Format, ...] = (
    "skops",
    "xgboost-json",
    "xgboost-ubj",
    "onnx",
    "safetensors",
    "pickle",
)


@dataclass(frozen=True)
class ModelRecord:
    """One registered version of a model."""

    name: str
    version: int
    artifact: str  # a path (or file:// URL) to the artifact
    format: Format
    licence: str | None
    training_data: str
    metrics: dict[str, float] = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    stage: Stage = "candidate"
    created_at: datetime | None = None


class ModelRegistry(Protocol):
    """Model versions and their stages."""

    async def register(self, record: ModelRecord) -> ModelRecord:
        """Store a new version (its number is the next one of its name) and return it."""
        ...

    async def get(self, name: str, version: int | None = None) -> ModelRecord:
        """Return a version, or the production one when `version` is None."""
        ...

    async def promote(self, name: str, version: int, stage: Stage) -> None:
        """Move a version to `stage`; promoting to production archives the previous one."""
        ...

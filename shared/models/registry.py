"""What the model registry records of a model version, and the port to it."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

__all__ = [
    "FORMATS",
    "Format",
    "ModelRecord",
    "ModelRegistry",
    "Stage",
    "artifact_path",
    "with_sha256",
]

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
    sha256: str | None = None  # of the artifact's bytes when it was registered


def artifact_path(artifact: str) -> Path:
    """Return the local path a record's `artifact` (a path or file:// URL) names."""
    return Path(artifact.removeprefix("file://"))


def with_sha256(record: ModelRecord) -> ModelRecord:
    """Return `record` with the SHA-256 of its artifact file, computed when not given.

    Raises FileNotFoundError naming the artifact when there is no file to hash.
    """
    if record.sha256:
        return dataclasses.replace(record, sha256=record.sha256.lower())
    path = artifact_path(record.artifact)
    if not path.is_file():
        raise FileNotFoundError(
            f"model {record.name!r}: no artifact at {path} to register; give the path of "
            "the model file"
        )
    with path.open("rb") as artifact:
        digest = hashlib.file_digest(artifact, "sha256").hexdigest()
    return dataclasses.replace(record, sha256=digest)


class ModelRegistry(Protocol):
    """Model versions and their stages."""

    async def register(self, record: ModelRecord) -> ModelRecord:
        """Store a new version (its number is the next one of its name) and return it, with
        the SHA-256 of its artifact (computed from the file when the record has none)."""
        ...

    async def get(self, name: str, version: int | None = None) -> ModelRecord:
        """Return a version, or the production one when `version` is None."""
        ...

    async def promote(self, name: str, version: int, stage: Stage) -> None:
        """Move a version to `stage`; promoting to production archives the previous one."""
        ...

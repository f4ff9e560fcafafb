"""What the model registry records of a model version, and the port to it."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
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
    "signature_of",
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
    signature: str | None = None  # HMAC-SHA256 of name and sha256, with a signing key set


def artifact_path(artifact: str) -> Path:
    """Return the local path a record's `artifact` (a path or file:// URL) names."""
    return Path(artifact.removeprefix("file://"))


def signature_of(name: str, sha256: str, key: bytes) -> str:
    """Return the signature binding the artifact digest `sha256` to model `name`."""
    message = f"pillars-artifact-v1\n{name}\n{sha256.lower()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def with_sha256(record: ModelRecord, signing_key: bytes | None = None) -> ModelRecord:
    """Return `record` with the SHA-256 of its artifact file, computed when not given, and
    with `signing_key` its signature, made when not given.

    Raises FileNotFoundError naming the artifact when there is no file to hash.
    """
    if record.sha256:
        record = dataclasses.replace(record, sha256=record.sha256.lower())
    else:
        path = artifact_path(record.artifact)
        if not path.is_file():
            raise FileNotFoundError(
                f"model {record.name!r}: no artifact at {path} to register; give the path of "
                "the model file"
            )
        with path.open("rb") as artifact:
            digest = hashlib.file_digest(artifact, "sha256").hexdigest()
        record = dataclasses.replace(record, sha256=digest)
    if signing_key is not None and not record.signature:
        assert record.sha256 is not None
        record = dataclasses.replace(
            record, signature=signature_of(record.name, record.sha256, signing_key)
        )
    return record


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

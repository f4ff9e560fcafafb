"""Admission: a model file is read once, checked, and only those checked bytes load.

- The file is refused before it is read when it is over the size limit, and after it is
  read when its SHA-256 is not the one recorded when it was registered.
- Whatever a file may construct is matched whole against an allowlist of classes (and
  NumPy's three array rebuilders), never by library: skops files are walked node by node
  and loaded trusting exactly what skops reports and the allowlist holds; pickles are off
  unless allowed, and then read by an unpickler that cannot build anything else.
- Formats that hold data only are checked for their own tricks: XGBoost JSON/UBJSON must
  parse, safetensors headers must describe the bytes exactly, ONNX may use only standard
  operators and no data outside its file.
- The licence is recorded with every version; a model without one is refused unless the
  caller explicitly allows it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shared.models.allowlist import ALLOWED_TYPES, allowed_types
from shared.models.onnx_checks import check_onnx
from shared.models.pickle_scan import scan_pickle
from shared.models.refusal import ModelRefused
from shared.models.registry import Format, ModelRecord, artifact_path, signature_of
from shared.models.safetensors_header import read_header
from shared.models.skops_files import scan_skops, skops_trusted
from shared.models.ubjson import UbjsonError, read_ubjson

if TYPE_CHECKING:
    from shared.models.settings import ModelSettings

__all__ = [
    "AdmissionPolicy",
    "Admitted",
    "Examination",
    "ModelRefused",
    "admit",
    "examine",
    "read_artifact",
]

DEFAULT_MAX_BYTES = 512 * 2**20


@dataclass(frozen=True)
class AdmissionPolicy:
    """What admission lets through; the defaults are the safe ones."""

    allow_unlicensed: bool = False
    allow_pickle: bool = False
    allowed_types: frozenset[str] = ALLOWED_TYPES
    max_bytes: int = DEFAULT_MAX_BYTES
    signing_key: bytes | None = field(default=None, repr=False)  # set: signatures required

    @classmethod
    def from_settings(cls, settings: ModelSettings) -> AdmissionPolicy:
        """Return the policy the settings describe."""
        return cls(
            allow_unlicensed=settings.allow_unlicensed_models,
            allow_pickle=settings.allow_pickle_models,
            allowed_types=allowed_types(settings.model_allowed_types),
            max_bytes=settings.model_max_bytes,
            signing_key=settings.signing_key,
        )


@dataclass(frozen=True)
class Examination:
    """What a model file holds or would construct, and why admission refuses it if it does."""

    constructs: tuple[str, ...] = ()
    trusted: tuple[str, ...] = ()  # skops: the types its loader trusts beyond skops' own
    refusal: str | None = None


@dataclass(frozen=True)
class Admitted:
    """A model file's bytes that passed admission: the loader reads these, never the path."""

    record: ModelRecord
    path: Path
    data: bytes = field(repr=False)
    examination: Examination
    allowed_types: frozenset[str]


def read_artifact(path: Path, max_bytes: int) -> bytes:
    """Return the bytes at `path`, refusing a file over `max_bytes` before reading it."""
    if not path.is_file():
        raise ModelRefused(f"no artifact at {path}")
    size = path.stat().st_size
    too_big = f"is over the {max_bytes}-byte limit (PILLARS_MODEL_MAX_BYTES); it was not read"
    if size > max_bytes:
        raise ModelRefused(f"{path} is {size} bytes, which {too_big}")
    with path.open("rb") as artifact:
        data = artifact.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the size was taken
        raise ModelRefused(f"{path} {too_big}")
    return data


def _outside(names: tuple[str, ...], allowed: frozenset[str]) -> str | None:
    outside = [name for name in names if name not in allowed]
    if not outside:
        return None
    return (
        f"would construct {', '.join(outside)}, which the allowlist does not hold; name a "
        "class you have reviewed in PILLARS_MODEL_ALLOWED_TYPES to admit it"
    )


def _pickle(data: bytes, policy: AdmissionPolicy) -> Examination:
    scan = scan_pickle(data)
    refusal = scan.problem or _outside(scan.names, policy.allowed_types)
    if refusal is None and not policy.allow_pickle:
        refusal = (
            "is a pickle, and pickles are off (PILLARS_ALLOW_PICKLE_MODELS); save the model "
            "with skops (scikit-learn), XGBoost JSON, ONNX or safetensors instead"
        )
    return Examination(scan.names, refusal=refusal)


def _skops(data: bytes, policy: AdmissionPolicy) -> Examination:
    scan = scan_skops(data, max_bytes=policy.max_bytes)
    refusal = scan.problem or _outside(scan.names, policy.allowed_types)
    if refusal:
        return Examination(scan.names, refusal=refusal)
    try:
        return Examination(scan.names, skops_trusted(data, policy.allowed_types))
    except Exception as exc:  # skops' own audit of a hostile file fails in many ways
        return Examination(scan.names, refusal=f"is refused by skops' audit ({exc!r})")


def _data_only(data: bytes, fmt: Format, folder: Path) -> tuple[str, ...]:
    """Return what a data-only file holds, or raise ValueError naming what is wrong."""
    if fmt == "safetensors":
        header = read_header(data)
        shapes = [f"{name} {dtype}{list(shape)}" for name, (dtype, shape) in header.tensors.items()]
        return (*shapes, *(f"metadata {k}={v}" for k, v in header.metadata.items()))
    if fmt == "onnx":
        return check_onnx(data, folder)
    try:
        model = json.loads(data) if fmt == "xgboost-json" else read_ubjson(data)
    except (UnicodeDecodeError, RecursionError, UbjsonError, ValueError) as exc:
        raise ValueError(f"it does not parse as {fmt} ({exc})") from None
    if not (isinstance(model, dict) and isinstance(model.get("learner"), dict)):
        raise ValueError(f"it parses, but is not an XGBoost model (no learner) in {fmt}")
    return (f"XGBoost model, version {model.get('version')}",)


def examine(data: bytes, fmt: Format, *, folder: Path, policy: AdmissionPolicy) -> Examination:
    """Return what the model file `data` would construct and whether admission refuses it.

    Nothing in `data` is imported, called or loaded; `folder` is where the file lives (ONNX
    external data must stay inside it).
    """
    if fmt == "pickle":
        return _pickle(data, policy)
    if fmt == "skops":
        return _skops(data, policy)
    try:
        return Examination(_data_only(data, fmt, folder))
    except ValueError as exc:
        return Examination(refusal=f"is refused as {fmt}: {exc}")


def _check_signature(record: ModelRecord, sha256: str, key: bytes, who: str) -> None:
    """Refuse a record whose signature is missing or not made with `key`."""
    if not record.signature:
        raise ModelRefused(
            f"{who} is not signed, and PILLARS_MODEL_SIGNING_KEY is set; register it again "
            "with the key set (registration signs it)"
        )
    expected = signature_of(record.name, sha256, key)
    if not hmac.compare_digest(expected, record.signature.lower()):
        raise ModelRefused(
            f"{who} has a bad signature: it was not registered with this "
            "PILLARS_MODEL_SIGNING_KEY, or its record was changed since; it was not read"
        )


def admit(record: ModelRecord, policy: AdmissionPolicy | None = None) -> Admitted:
    """Read and check `record`'s artifact once; raise ModelRefused, or return its bytes."""
    policy = policy or AdmissionPolicy()
    who = f"{record.name} v{record.version}"
    if not (record.licence or "").strip() and not policy.allow_unlicensed:
        raise ModelRefused(
            f"{who} has no licence recorded; register it with one "
            "(or allow unlicensed models explicitly)"
        )
    if not record.sha256:
        raise ModelRefused(
            f"{who} has no sha256 recorded, so a changed file could not be told apart; "
            "register the file again (registration records its digest)"
        )
    if policy.signing_key is not None:
        _check_signature(record, record.sha256, policy.signing_key, who)
    path = artifact_path(record.artifact)
    try:
        data = read_artifact(path, policy.max_bytes)
    except ModelRefused as exc:
        raise ModelRefused(f"{who}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != record.sha256.lower():
        raise ModelRefused(
            f"{who}: {path} changed since it was registered (sha256 {digest[:16]}… now, "
            f"{record.sha256[:16]}… recorded); register the new file as a new version"
        )
    examination = examine(data, record.format, folder=path.parent, policy=policy)
    if examination.refusal:
        raise ModelRefused(f"{who}: {path} {examination.refusal}; it was not loaded")
    return Admitted(record, path, data, examination, policy.allowed_types)

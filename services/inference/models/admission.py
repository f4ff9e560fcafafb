"""Admission: an artifact is checked before anything loads it.

- Pickle-based files (`pickle`, joblib) are scanned with picklescan without unpickling them:
  a dangerous global (os.system, eval, subprocess, builtins.exec, ...) or a scan error
  refuses the file, and so does any other import outside the allowed libraries.
- skops files are accepted only when every type they would construct is one the allowed
  libraries define (`skops.io.get_untrusted_types`); loading then trusts exactly those.
- XGBoost JSON must parse as JSON; ONNX must pass `onnx.checker`; safetensors (data only)
  must open as safetensors.
- The licence is recorded with every version; a model without one is refused unless the
  caller explicitly allows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from services.inference.models.registry import ModelRecord

__all__ = ["ALLOWED_LIBRARIES", "Admitted", "ModelRefused", "admit"]

# Libraries whose classes a model file may construct.
ALLOWED_LIBRARIES = ("sklearn", "numpy", "scipy", "xgboost")


class ModelRefused(Exception):  # noqa: N818 - it names the outcome
    """The artifact is not loaded: the reason says why and what to do."""


@dataclass(frozen=True)
class Admitted:
    """An artifact that passed admission, with the types its loader may trust."""

    record: ModelRecord
    path: Path
    trusted_types: tuple[str, ...] = ()


def _allowed(qualified: str) -> bool:
    return qualified.split(".", 1)[0] in ALLOWED_LIBRARIES


def _path(record: ModelRecord) -> Path:
    path = Path(record.artifact.removeprefix("file://"))
    if not path.is_file():
        raise ModelRefused(f"{record.name} v{record.version}: no artifact at {path}")
    return path


def _check_pickle(record: ModelRecord, path: Path) -> None:
    from picklescan.scanner import SafetyLevel, scan_file_path

    result = scan_file_path(str(path))
    if result.scan_err:
        raise ModelRefused(f"{record.name} v{record.version}: {path} could not be scanned")
    dangerous = [
        f"{g.module}.{g.name}" for g in result.globals if g.safety == SafetyLevel.Dangerous
    ]
    if dangerous or result.issues_count:
        raise ModelRefused(
            f"{record.name} v{record.version}: {path} is a pickle that imports "
            f"{', '.join(dangerous) or 'dangerous globals'}; it was not loaded. "
            "Export the model as skops, XGBoost JSON or ONNX instead."
        )
    foreign = sorted({f"{g.module}.{g.name}" for g in result.globals if not _allowed(g.module)})
    if foreign:
        raise ModelRefused(
            f"{record.name} v{record.version}: {path} imports {', '.join(foreign)}, outside "
            f"the allowed libraries ({', '.join(ALLOWED_LIBRARIES)}); it was not loaded"
        )


def _check_skops(record: ModelRecord, path: Path) -> tuple[str, ...]:
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    foreign = sorted(t for t in untrusted if not _allowed(t))
    if foreign:
        raise ModelRefused(
            f"{record.name} v{record.version}: {path} would construct {', '.join(foreign)}, "
            f"outside the allowed libraries ({', '.join(ALLOWED_LIBRARIES)})"
        )
    return tuple(untrusted)


def admit(record: ModelRecord, *, allow_unlicensed: bool = False) -> Admitted:
    """Check `record`'s artifact and licence; raise ModelRefused, or return what may load."""
    if not (record.licence or "").strip() and not allow_unlicensed:
        raise ModelRefused(
            f"{record.name} v{record.version} has no licence recorded; register it with one "
            "(or allow unlicensed models explicitly)"
        )
    path = _path(record)
    trusted: tuple[str, ...] = ()
    if record.format == "pickle":
        _check_pickle(record, path)
    elif record.format == "skops":
        trusted = _check_skops(record, path)
    elif record.format == "xgboost-json":
        try:
            json.loads(path.read_bytes())
        except ValueError as exc:
            raise ModelRefused(f"{record.name} v{record.version}: {path} is not JSON") from exc
    elif record.format == "safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as tensors:
                tensors.keys()
        except (SafetensorError, OSError) as exc:
            raise ModelRefused(
                f"{record.name} v{record.version}: {path} is not a safetensors file: {exc}"
            ) from exc
    elif record.format == "onnx":
        import onnx

        try:
            onnx.checker.check_model(str(path))
        except onnx.checker.ValidationError as exc:
            raise ModelRefused(f"{record.name} v{record.version}: invalid ONNX: {exc}") from exc
    return Admitted(record, path, trusted)

"""`pillars models check FILE`: what a model file would construct, and whether admission
would take it, before anything is registered (a service's command, found by the `pillars`
command line through its entry point)."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from shared.models.registry import FORMATS, Format
from shared.platform.cli.common import Commands, fail

__all__ = ["add_commands", "format_of"]

_SUFFIXES: dict[str, Format] = {
    ".skops": "skops",
    ".json": "xgboost-json",
    ".ubj": "xgboost-ubj",
    ".onnx": "onnx",
    ".safetensors": "safetensors",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "pickle",
}


def format_of(path: Path) -> Format | None:
    """Return the format a file's suffix names, or None when it names none."""
    return _SUFFIXES.get(path.suffix.lower())


def add_commands(commands: Commands) -> None:
    """Add `models check`."""
    models = commands.add_parser("models", help="inspect model files")
    actions = models.add_subparsers(dest="models_command", required=True)
    check = actions.add_parser(
        "check", help="print what a model file would construct and whether it is admitted"
    )
    check.add_argument("file", type=Path, help="the model file")
    check.add_argument("--format", choices=FORMATS, help="default: from the file's suffix")
    check.set_defaults(run=_check)


def _check(args: argparse.Namespace) -> int:
    from services.inference.config import InferenceSettings
    from shared.models.admission import (
        AdmissionPolicy,
        ModelRefused,
        examine,
        read_artifact,
    )

    path: Path = args.file
    fmt: Format | None = args.format or format_of(path)
    if fmt is None:
        return fail(f"{path}: say which format it is with --format ({', '.join(FORMATS)})")
    policy = AdmissionPolicy.from_settings(InferenceSettings())
    try:
        data = read_artifact(path, policy.max_bytes)
    except ModelRefused as exc:
        print(f"refused: {exc}")
        return 1
    print(f"{path} ({fmt}, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})")
    examination = examine(data, fmt, folder=path.parent, policy=policy)
    held = examination.constructs
    print(f"{'constructs' if fmt in ('pickle', 'skops') else 'holds'}: {len(held)}")
    for name in held:
        marker = "" if name in policy.allowed_types or fmt not in ("pickle", "skops") else "  ✗"
        print(f"  {name}{marker}")
    if examination.refusal:
        print(f"refused: {path} {examination.refusal}")
        return 1
    print("admitted (the licence is checked when a registered version loads)")
    return 0

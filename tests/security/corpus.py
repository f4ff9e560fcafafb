"""The hostile corpus on disk: one folder per case, its marker path, its recorded digest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import skops.io
from sklearn.linear_model import LogisticRegression

from shared.models.registry import Format
from tests.security.hostile_formats import OTHERS
from tests.security.hostile_pickles import PICKLES
from tests.security.hostile_skops import SKOPS, reduce_runstring

SUFFIXES = {
    "pickle": ".pkl",
    "skops": ".skops",
    "onnx": ".onnx",
    "safetensors": ".safetensors",
    "xgboost-json": ".json",
    "xgboost-ubj": ".ubj",
}


@dataclass(frozen=True)
class Case:
    """One hostile artifact, as the registry would record it."""

    name: str
    format: Format
    path: str
    marker: str
    sha256: str


def _write(
    folder: Path, name: str, fmt: Format, content: bytes, registered: bytes | None = None
) -> Case:
    case_dir = folder / name
    case_dir.mkdir(parents=True, exist_ok=True)
    path = case_dir / f"model{SUFFIXES[fmt]}"
    path.write_bytes(content)
    digest = hashlib.sha256(content if registered is None else registered).hexdigest()
    return Case(name, fmt, str(path), str(folder / "markers" / name), digest)


def build_corpus(folder: Path) -> list[Case]:
    """Write every hostile case under `folder` and return them."""
    (folder / "markers").mkdir(parents=True, exist_ok=True)
    cases = []
    for name, build in PICKLES.items():
        marker = folder / "markers" / f"pickle-{name}"
        cases.append(_write(folder, f"pickle-{name}", "pickle", build(marker)))
    for name, build in SKOPS.items():
        marker = folder / "markers" / f"skops-{name}"
        cases.append(_write(folder, f"skops-{name}", "skops", build(marker)))
    for name, (fmt, make) in OTHERS.items():
        cases.append(_write(folder, name, fmt, make(folder / name)))
    # Registered as a real model, then swapped for a gadget before it is loaded.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4))
    registered = skops.io.dumps(LogisticRegression().fit(x, x[:, 0] > 0))
    swapped = reduce_runstring(folder / "markers" / "changed-after-registration")
    cases.append(_write(folder, "changed-after-registration", "skops", swapped, registered))
    return cases


def write_manifest(cases: list[Case], path: Path) -> Path:
    """Write the cases as JSON for a child process."""
    path.write_text(json.dumps([asdict(case) for case in cases]))
    return path

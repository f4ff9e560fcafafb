"""The torch classifier: it learns, survives a safetensors round trip, and is admitted
only as real safetensors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from shared.models.admission import ModelRefused, admit
from shared.models.classifiers import load_classifier
from shared.models.registry import ModelRecord
from shared.models.training import train_classifier


def separable(n: int = 400) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 16)).astype(np.float32)
    return x, ["up" if row[0] + row[1] > 0 else "down" for row in x]


def test_the_mlp_learns_and_reloads_from_safetensors(tmp_path: Path) -> None:
    x, y = separable()
    result = train_classifier(x, y, kind="mlp", out_dir=tmp_path)
    assert result.format == "safetensors"
    assert result.artifact.suffix == ".safetensors"
    assert result.metrics["accuracy"] > result.metrics["majority_baseline_accuracy"] + 0.2
    record = ModelRecord(
        name="m",
        version=1,
        artifact=str(result.artifact),
        format="safetensors",
        licence="Apache-2.0",
        training_data="synthetic",
        labels=result.labels,
        sha256=hashlib.sha256(result.artifact.read_bytes()).hexdigest(),
    )
    classifier = load_classifier(admit(record))
    results = classifier.classify(x[:50])
    agreement = np.mean([r.label == t for r, t in zip(results, y[:50], strict=True)])
    assert agreement > 0.8
    assert all(abs(sum(r.probabilities.values()) - 1) < 1e-5 for r in results)


def test_a_file_that_is_not_safetensors_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"\x80\x04not a safetensors header")
    record = ModelRecord(
        name="m",
        version=1,
        artifact=str(fake),
        format="safetensors",
        licence="MIT",
        training_data="x",
        sha256=hashlib.sha256(fake.read_bytes()).hexdigest(),
    )
    with pytest.raises(ModelRefused, match="is refused as safetensors: its header length"):
        admit(record)

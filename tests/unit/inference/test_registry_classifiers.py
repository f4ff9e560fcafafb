"""Registry classifiers: admitted with the policy given, loaded once per version."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from services.inference.adapters.registry_classifiers import RegistryClassifiers
from shared.models.admission import AdmissionPolicy, ModelRefused
from shared.models.registry import Format, ModelRecord, Stage


class FakeRegistry:
    """A ModelRegistry in memory that counts look-ups."""

    def __init__(self, *records: ModelRecord) -> None:
        self.records = {(r.name, r.version): r for r in records}
        self.gets = 0

    async def register(self, record: ModelRecord) -> ModelRecord:
        raise NotImplementedError

    async def get(self, name: str, version: int | None = None) -> ModelRecord:
        self.gets += 1
        return self.records[(name, version or 1)]

    async def promote(self, name: str, version: int, stage: Stage) -> None:
        raise NotImplementedError


def registered(path: Path, fmt: Format) -> ModelRecord:
    return ModelRecord(
        name=path.stem,
        version=1,
        artifact=str(path),
        format=fmt,
        licence="MIT",
        training_data="synthetic",
        labels=("no", "yes"),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def fitted() -> LogisticRegression:
    x = np.random.default_rng(0).standard_normal((30, 2))
    return LogisticRegression().fit(x, x[:, 0] > 0)


async def test_a_version_is_admitted_and_loaded_once(tmp_path: Path) -> None:
    skops.io.dump(fitted(), tmp_path / "sentiment.skops")
    registry = FakeRegistry(registered(tmp_path / "sentiment.skops", "skops"))
    classifiers = RegistryClassifiers(registry)
    first = await classifiers.classifier("sentiment", 1)
    (tmp_path / "sentiment.skops").write_bytes(b"changed on disk")  # loaded already
    assert await classifiers.classifier("sentiment", 1) is first
    assert registry.gets == 1


async def test_the_policy_given_decides_what_loads(tmp_path: Path) -> None:
    (tmp_path / "legacy.pkl").write_bytes(pickle.dumps(fitted(), protocol=5))
    registry = FakeRegistry(registered(tmp_path / "legacy.pkl", "pickle"))
    with pytest.raises(ModelRefused, match="pickles are off"):
        await RegistryClassifiers(registry).classifier("legacy", 1)
    allowing = RegistryClassifiers(registry, policy=AdmissionPolicy(allow_pickle=True))
    loaded = await allowing.classifier("legacy", 1)
    assert loaded.classify(np.array([[3.0, 0.0]]))[0].label == "yes"

"""Admission: artifacts are checked before anything loads them; a malicious pickle never runs."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io
import xgboost
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from services.inference.models.admission import ModelRefused, admit
from services.inference.models.classifiers import load_classifier
from services.inference.models.registry import Format, ModelRecord


def record(path: Path, fmt: Format, licence: str | None = "MIT") -> ModelRecord:
    return ModelRecord(
        name="m",
        version=1,
        artifact=str(path),
        format=fmt,
        licence=licence,
        training_data="synthetic",
        labels=("no", "yes"),
    )


class Exploit:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def fitted() -> LogisticRegression:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4))
    return LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))


def test_a_malicious_pickle_is_refused_and_never_executes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "pwned"
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(Exploit(marker)))

    def never(*_: object, **__: object) -> None:
        raise AssertionError("admission unpickled the file")

    monkeypatch.setattr(pickle, "load", never)
    monkeypatch.setattr(pickle, "loads", never)
    monkeypatch.setattr(pickle, "Unpickler", never)
    with pytest.raises(ModelRefused, match=r"imports posix\.system.*was not loaded"):
        admit(record(artifact, "pickle"))
    assert not marker.exists()


def test_a_clean_scikit_learn_pickle_is_admitted_and_classifies(tmp_path: Path) -> None:
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(fitted()))
    classifier = load_classifier(admit(record(artifact, "pickle")))
    [positive, negative] = classifier.classify(np.array([[3.0, 0, 0, 0], [-3.0, 0, 0, 0]]))
    assert (positive.label, negative.label) == ("yes", "no")
    assert positive.confidence > 0.5
    assert sum(positive.probabilities.values()) == pytest.approx(1.0)


def test_a_pickle_importing_other_libraries_is_refused(tmp_path: Path) -> None:
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(Path("/etc/passwd")))
    with pytest.raises(ModelRefused, match="outside the allowed libraries"):
        admit(record(artifact, "pickle"))


def test_skops_is_admitted_only_with_types_of_allowed_libraries(tmp_path: Path) -> None:
    safe = tmp_path / "safe.skops"
    skops.io.dump(fitted(), safe)
    admitted = admit(record(safe, "skops"))
    assert load_classifier(admitted).classify(np.array([[3.0, 0, 0, 0]]))[0].label == "yes"

    risky = tmp_path / "risky.skops"
    skops.io.dump(make_pipeline(FunctionTransformer(os.system), LogisticRegression()), risky)
    with pytest.raises(ModelRefused, match=r"would construct .*system"):
        admit(record(risky, "skops"))


def test_xgboost_json_is_admitted_and_broken_files_are_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((60, 4))
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=2).fit(x, (x[:, 0] > 0).astype(int))
    artifact = tmp_path / "model.json"
    model.save_model(artifact)
    classifier = load_classifier(admit(record(artifact, "xgboost-json")))
    assert classifier.classify(np.array([[3.0, 0, 0, 0]], dtype=np.float32))[0].label == "yes"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ModelRefused, match="is not JSON"):
        admit(record(broken, "xgboost-json"))
    with pytest.raises(ModelRefused, match="no artifact at"):
        admit(record(tmp_path / "missing.json", "xgboost-json"))
    assert json.loads(artifact.read_text())  # a plain data file


def test_a_model_without_a_licence_is_refused_unless_allowed(tmp_path: Path) -> None:
    artifact = tmp_path / "model.skops"
    skops.io.dump(fitted(), artifact)
    with pytest.raises(ModelRefused, match="no licence recorded"):
        admit(record(artifact, "skops", licence=None))
    assert admit(record(artifact, "skops", licence=" "), allow_unlicensed=True).path == artifact

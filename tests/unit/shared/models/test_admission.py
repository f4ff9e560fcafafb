"""Admission: artifacts are read once and checked before anything loads them; a malicious
pickle never runs, and the loader builds only from the bytes that were checked."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import skops.io
import xgboost
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from services.inference.config import InferenceSettings
from shared.models.admission import (
    AdmissionPolicy,
    ModelRefused,
    admit,
    examine,
    read_artifact,
)
from shared.models.allowlist import ALLOWED_TYPES
from shared.models.classifiers import load_classifier
from shared.models.registry import Format, ModelRecord, signature_of, with_sha256

PICKLES_ON = AdmissionPolicy(allow_pickle=True)


def record(path: Path, fmt: Format, licence: str | None = "MIT") -> ModelRecord:
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "0" * 64
    return ModelRecord(
        name="m",
        version=1,
        artifact=str(path),
        format=fmt,
        licence=licence,
        training_data="synthetic",
        labels=("no", "yes"),
        sha256=digest,
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

    for attribute in ("load", "loads", "Unpickler", "_Unpickler"):
        monkeypatch.setattr(pickle, attribute, never)
    with pytest.raises(ModelRefused, match=r"would construct posix\.system, which the allow"):
        admit(record(artifact, "pickle"), PICKLES_ON)
    with pytest.raises(ModelRefused, match=r"posix\.system"):
        admit(record(artifact, "pickle"))
    assert not marker.exists()


def test_pickles_are_off_unless_allowed_and_then_load_within_the_allowlist(
    tmp_path: Path,
) -> None:
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(fitted(), protocol=5))
    with pytest.raises(ModelRefused, match=r"pickles are off \(PILLARS_ALLOW_PICKLE_MODELS\)"):
        admit(record(artifact, "pickle"))
    admitted = admit(record(artifact, "pickle"), PICKLES_ON)
    assert "sklearn.linear_model._logistic.LogisticRegression" in admitted.examination.constructs
    classifier = load_classifier(admitted)
    [positive, negative] = classifier.classify(np.array([[3.0, 0, 0, 0], [-3.0, 0, 0, 0]]))
    assert (positive.label, negative.label) == ("yes", "no")
    assert positive.confidence > 0.5
    assert sum(positive.probabilities.values()) == pytest.approx(1.0)


def test_a_pickle_importing_other_libraries_is_refused(tmp_path: Path) -> None:
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(pickle.dumps(Path("/etc/passwd")))
    with pytest.raises(ModelRefused, match="PosixPath, which the allowlist does not hold"):
        admit(record(artifact, "pickle"), PICKLES_ON)


def test_skops_is_admitted_only_with_allowlisted_types(tmp_path: Path) -> None:
    safe = tmp_path / "safe.skops"
    skops.io.dump(fitted(), safe)
    admitted = admit(record(safe, "skops"))
    assert load_classifier(admitted).classify(np.array([[3.0, 0, 0, 0]]))[0].label == "yes"

    risky = tmp_path / "risky.skops"
    skops.io.dump(make_pipeline(FunctionTransformer(os.system), LogisticRegression()), risky)
    with pytest.raises(ModelRefused, match=r"would construct .*system"):
        admit(record(risky, "skops"))


def test_names_added_in_the_settings_are_admitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = tmp_path / "model.skops"
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal((40, 4)))
    pipeline = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression())
    skops.io.dump(pipeline.fit(x, (x[:, 0] > 0.7).astype(int)), artifact)
    with pytest.raises(ModelRefused, match="FunctionTransformer"):
        admit(record(artifact, "skops"))
    extra = "sklearn.preprocessing._function_transformer.FunctionTransformer"
    monkeypatch.setenv("PILLARS_MODEL_ALLOWED_TYPES", f"{extra}, numpy.log1p")
    policy = AdmissionPolicy.from_settings(InferenceSettings())
    assert policy.allowed_types == ALLOWED_TYPES | {extra, "numpy.log1p"}
    admitted = admit(record(artifact, "skops"), policy)
    assert extra in admitted.examination.constructs
    assert load_classifier(admitted).classify(np.array([[3.0, 0, 0, 0]]))[0].label == "yes"


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
    with pytest.raises(ModelRefused, match="does not parse as xgboost-json"):
        admit(record(broken, "xgboost-json"))
    with pytest.raises(ModelRefused, match="no artifact at"):
        admit(record(tmp_path / "missing.json", "xgboost-json"))
    assert json.loads(artifact.read_text())  # a plain data file


def test_a_model_without_a_licence_is_refused_unless_allowed(tmp_path: Path) -> None:
    artifact = tmp_path / "model.skops"
    skops.io.dump(fitted(), artifact)
    with pytest.raises(ModelRefused, match="no licence recorded"):
        admit(record(artifact, "skops", licence=None))
    unlicensed = AdmissionPolicy(allow_unlicensed=True)
    assert admit(record(artifact, "skops", licence=" "), unlicensed).path == artifact


def test_the_loader_uses_the_checked_bytes_and_a_changed_file_is_refused(
    tmp_path: Path,
) -> None:
    artifact = tmp_path / "model.skops"
    skops.io.dump(fitted(), artifact)
    registered = record(artifact, "skops")
    admitted = admit(registered)
    artifact.write_bytes(b"swapped after admission")
    assert load_classifier(admitted).classify(np.array([[3.0, 0, 0, 0]]))[0].label == "yes"
    with pytest.raises(ModelRefused, match="changed since it was registered"):
        admit(registered)


def test_a_record_without_a_digest_is_refused(tmp_path: Path) -> None:
    artifact = tmp_path / "model.skops"
    skops.io.dump(fitted(), artifact)
    unpinned = ModelRecord(
        name="m",
        version=3,
        artifact=str(artifact),
        format="skops",
        licence="MIT",
        training_data="x",
    )
    with pytest.raises(ModelRefused, match="m v3 has no sha256 recorded"):
        admit(unpinned)


def test_a_file_over_the_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(bytes(2048))
    monkeypatch.setattr(Path, "open", lambda *_, **__: pytest.fail("the file was opened"))
    with pytest.raises(ModelRefused, match="is 2048 bytes, which is over the 1024-byte limit"):
        read_artifact(artifact, 1024)


def test_examine_lists_what_a_skops_file_would_construct(tmp_path: Path) -> None:
    examination = examine(
        skops.io.dumps(fitted()), "skops", folder=tmp_path, policy=AdmissionPolicy()
    )
    assert examination.refusal is None
    assert "sklearn.linear_model._logistic.LogisticRegression" in examination.constructs


KEY = b"registry signing key"
SIGNED = AdmissionPolicy(signing_key=KEY)


@pytest.mark.security
def test_a_signed_artifact_is_admitted_and_every_forgery_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    artifact = tmp_path / "model.skops"
    skops.io.dump(fitted(), artifact)
    signed = with_sha256(record(artifact, "skops"), KEY)
    assert signed.signature == signature_of("m", signed.sha256 or "", KEY)
    assert admit(signed, SIGNED).record == signed
    refusals = [
        ("is not signed", replace(signed, signature=None)),
        ("bad signature", with_sha256(replace(signed, signature=None), b"another key")),
        # the record re-pointed at other bytes: its digest no longer matches the signature
        ("bad signature", replace(signed, sha256=hashlib.sha256(b"other").hexdigest())),
        # a signature is about one model's name: it does not move to another
        ("bad signature", replace(signed, name="other")),
    ]
    for reason, forged in refusals:
        with pytest.raises(ModelRefused, match=reason):
            admit(forged, SIGNED)
    # without a key configured the digest alone is checked
    assert admit(replace(signed, signature="0" * 64)).record.name == "m"


@pytest.mark.security
def test_a_tampered_signed_artifact_is_refused_with_the_reason(tmp_path: Path) -> None:
    artifact = tmp_path / "model.skops"
    skops.io.dump(fitted(), artifact)
    signed = with_sha256(record(artifact, "skops"), KEY)
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    with pytest.raises(ModelRefused, match="changed since it was registered"):
        admit(signed, SIGNED)


def test_the_signing_key_comes_from_the_settings_and_is_never_shown() -> None:
    settings = InferenceSettings(model_signing_key="s3cret-key")
    policy = AdmissionPolicy.from_settings(settings)
    assert policy.signing_key == b"s3cret-key"
    assert "s3cret" not in repr(policy) + repr(settings)

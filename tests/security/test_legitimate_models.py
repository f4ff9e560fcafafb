"""What admission must still take: every kind pillars trains, a user's scikit-learn
pipeline saved as skops, and (with pickles on) common models pickled by scikit-learn."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io
import xgboost
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from shared.models.admission import AdmissionPolicy, ModelRefused, admit
from shared.models.classifiers import load_classifier
from shared.models.registry import Format, ModelRecord
from shared.models.training import Kind, train_classifier

pytestmark = pytest.mark.security

RNG = np.random.default_rng(0)
X = RNG.standard_normal((120, 8)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


def record(path: Path, fmt: Format, labels: tuple[str, ...] = ("no", "yes")) -> ModelRecord:
    return ModelRecord(
        name="m",
        version=1,
        artifact=str(path),
        format=fmt,
        licence="MIT",
        training_data="synthetic",
        labels=labels,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


@pytest.mark.parametrize("kind", ["logreg", "xgboost", "mlp"])
def test_every_kind_pillars_trains_is_admitted_and_loads(tmp_path: Path, kind: Kind) -> None:
    labels = ["up" if row[0] + row[1] > 0 else "down" for row in X]
    result = train_classifier(X, labels, kind=kind, out_dir=tmp_path)
    classifier = load_classifier(admit(record(result.artifact, result.format, result.labels)))
    answers = classifier.classify(X[:40])
    agreement = np.mean([a.label == t for a, t in zip(answers, labels[:40], strict=True)])
    assert agreement > 0.8


def test_xgboost_ubjson_is_admitted_and_loads(tmp_path: Path) -> None:
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, Y)
    model.save_model(tmp_path / "model.ubj")
    classifier = load_classifier(admit(record(tmp_path / "model.ubj", "xgboost-ubj")))
    assert np.array_equal(
        [a.label == "yes" for a in classifier.classify(X[:20])], model.predict(X[:20]) == 1
    )


def test_a_users_scaled_logistic_regression_pipeline_saved_as_skops_is_admitted(
    tmp_path: Path,
) -> None:
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)
    skops.io.dump(pipeline, tmp_path / "pipeline.skops")
    admitted = admit(record(tmp_path / "pipeline.skops", "skops"))
    assert "sklearn.preprocessing._data.StandardScaler" in admitted.examination.constructs
    model = load_classifier(admitted).model
    assert np.array_equal(model.predict_proba(X), pipeline.predict_proba(X))


COMMON = {
    "forest": RandomForestClassifier(n_estimators=5, random_state=0),
    "tree": DecisionTreeClassifier(random_state=0),
    "gradient-boosting": GradientBoostingClassifier(n_estimators=5, random_state=0),
    "svc": CalibratedClassifierCV(SVC(random_state=0), ensemble=False),
    "mlp": MLPClassifier(max_iter=50, random_state=0),
    "calibrated-linear-svc": CalibratedClassifierCV(LinearSVC(), cv=2),
    "k-neighbours": KNeighborsClassifier(),
    "xgboost-wrapper": xgboost.XGBClassifier(n_estimators=5),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", sorted(COMMON))
def test_common_models_saved_as_skops_are_admitted(tmp_path: Path, name: str) -> None:
    model = COMMON[name].fit(X, Y)
    skops.io.dump(model, tmp_path / "model.skops")
    loaded = load_classifier(admit(record(tmp_path / "model.skops", "skops"))).model
    assert np.array_equal(loaded.predict(X), model.predict(X))


PICKLED = ["forest", "tree", "svc", "calibrated-linear-svc", "xgboost-wrapper"]


@pytest.mark.parametrize("protocol", [3, 4, 5])
@pytest.mark.parametrize("name", PICKLED)
def test_common_models_pickled_are_admitted_only_with_pickles_on(
    tmp_path: Path, name: str, protocol: int
) -> None:
    model = COMMON[name].fit(X, Y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model, protocol=protocol))
    with pytest.raises(ModelRefused, match="pickles are off"):
        admit(record(path, "pickle"))
    admitted = admit(record(path, "pickle"), AdmissionPolicy(allow_pickle=True))
    assert np.array_equal(load_classifier(admitted).model.predict(X), model.predict(X))


def test_a_text_pipeline_pickle_loads_with_its_structured_arrays(tmp_path: Path) -> None:
    texts = ["good film", "bad plot", "great cast", "awful pacing"] * 10
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, [1, 0, 1, 0] * 10)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model, protocol=5))
    loaded = load_classifier(admit(record(path, "pickle"), AdmissionPolicy(allow_pickle=True)))
    assert list(loaded.model.predict(["good cast"])) == [1]

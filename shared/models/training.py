"""Training a text classifier on embeddings: logistic regression, XGBoost or a torch MLP,
with held-out metrics.

The features are the same embeddings the embedding service computes for each request, so a
trained classifier answers from `requests.embedded` with no second model call. Artifacts
use safe formats only: skops for scikit-learn, XGBoost's own JSON, safetensors for torch.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from shared.models.registry import Format

__all__ = ["Kind", "TrainingResult", "train_classifier"]

Kind = Literal["logreg", "xgboost", "mlp"]


@dataclass(frozen=True)
class TrainingResult:
    """Where the artifact is, in what format, and how it did on held-out data."""

    artifact: Path
    format: Format
    labels: tuple[str, ...]
    metrics: dict[str, float]


def train_classifier(
    vectors: npt.NDArray[np.float32],
    labels: Sequence[str],
    *,
    kind: Kind,
    out_dir: Path,
    seed: int = 0,
    test_share: float = 0.25,
) -> TrainingResult:
    """Train on a stratified share of the rows, score on the rest, write the artifact."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support
    from sklearn.model_selection import train_test_split

    names = tuple(sorted(set(labels)))
    y = np.array([names.index(label) for label in labels])
    x_train, x_test, y_train, y_test = train_test_split(
        np.asarray(vectors), y, test_size=test_share, random_state=seed, stratify=y
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact_format: Format
    if kind == "logreg":
        import skops.io
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(max_iter=2000, C=4.0).fit(x_train, y_train)
        artifact = out_dir / "model.skops"
        skops.io.dump(model, artifact)
        artifact_format = "skops"
    elif kind == "mlp":
        from shared.models.torch_mlp import save_mlp, train_mlp

        model = train_mlp(np.asarray(x_train, dtype=np.float32), y_train, len(names), seed=seed)
        artifact = out_dir / "model.safetensors"
        save_mlp(model, artifact)
        artifact_format = "safetensors"
    else:
        import xgboost

        model = xgboost.XGBClassifier(
            n_estimators=300,
            max_depth=4,
            learning_rate=0.1,
            subsample=0.9,
            tree_method="hist",
            n_jobs=2,
            random_state=seed,
        ).fit(x_train, y_train)
        artifact = out_dir / "model.json"
        model.save_model(artifact)
        artifact_format = "xgboost-json"
    predicted = np.asarray(model.predict(x_test))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_test, predicted, average="macro", zero_division=0
    )
    per_class = precision_recall_fscore_support(
        y_test, predicted, labels=list(range(len(names))), average=None, zero_division=0
    )[2]
    majority = Counter(y_train.tolist()).most_common(1)[0][0]
    metrics = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
        "majority_baseline_accuracy": float(np.mean(y_test == majority)),
        "train_size": float(len(y_train)),
        "test_size": float(len(y_test)),
        **{f"f1_{name}": float(score) for name, score in zip(names, per_class, strict=True)},
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainingResult(artifact, artifact_format, names, metrics)

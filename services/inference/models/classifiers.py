"""Loading admitted classifiers, and what they answer for a query embedding."""

from __future__ import annotations

import pickle  # only ever reached after picklescan admitted the file
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.inference.models.admission import Admitted

__all__ = ["Classification", "LoadedClassifier", "load_classifier"]


@dataclass(frozen=True)
class Classification:
    """The predicted label, its probability and every label's."""

    label: str
    confidence: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class LoadedClassifier:
    """A classifier over embeddings (scikit-learn API), with its label names."""

    name: str
    version: int
    labels: tuple[str, ...]
    model: Any

    def classify(self, vectors: npt.NDArray[np.float32]) -> list[Classification]:
        """Classify each row of `vectors` (query embeddings)."""
        probabilities = np.asarray(self.model.predict_proba(np.asarray(vectors)))
        results = []
        for row in probabilities:
            best = int(row.argmax())
            results.append(
                Classification(
                    label=self.labels[best],
                    confidence=float(row[best]),
                    probabilities=dict(zip(self.labels, map(float, row), strict=True)),
                )
            )
        return results


def load_classifier(admitted: Admitted) -> LoadedClassifier:
    """Load an admitted artifact (admission is the only way to get an `Admitted`)."""
    record, path = admitted.record, admitted.path
    model: Any
    if record.format == "skops":
        import skops.io

        model = skops.io.load(path, trusted=list(admitted.trusted_types))
    elif record.format in ("xgboost-json", "xgboost-ubj"):
        import xgboost

        model = xgboost.XGBClassifier()
        model.load_model(path)
    elif record.format == "safetensors":
        from services.inference.models.torch_mlp import load_mlp

        model = load_mlp(path)
    elif record.format == "pickle":
        with path.open("rb") as f:
            model = pickle.load(f)  # noqa: S301 - scanned by admission first
    else:
        raise ValueError(f"{record.format} models are not classifiers pillars can load yet")
    return LoadedClassifier(record.name, record.version, record.labels, model)

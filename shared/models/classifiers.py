"""Loading admitted classifiers, and what they answer for a query embedding."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.models.admission import Admitted
from shared.models.pickle_loader import load_pickle
from shared.models.refusal import ModelRefused
from shared.models.skops_files import load_skops

__all__ = ["Classification", "LoadedClassifier", "load_classifier"]

_LOADABLE = ("skops", "pickle", "safetensors", "xgboost-json", "xgboost-ubj")


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
    """Load an admitted artifact from the bytes admission checked (never from its path)."""
    record, data = admitted.record, admitted.data
    if record.format not in _LOADABLE:
        raise ValueError(f"{record.format} models are not classifiers pillars can load yet")
    model: Any
    try:
        if record.format == "skops":
            model = load_skops(data, admitted.examination.trusted)
        elif record.format == "pickle":
            model = load_pickle(data, admitted.allowed_types)
        elif record.format == "safetensors":
            from shared.models.torch_mlp import load_mlp

            model = load_mlp(data)
        else:
            import xgboost

            model = xgboost.XGBClassifier()
            model.load_model(bytearray(data))
    except (pickle.UnpicklingError, ModelRefused, ValueError) as exc:  # XGBoostError too
        raise ModelRefused(
            f"{record.name} v{record.version}: {admitted.path} did not load: {exc}"
        ) from None
    if not callable(getattr(model, "predict_proba", None)):
        raise ModelRefused(
            f"{record.name} v{record.version}: {admitted.path} holds a "
            f"{type(model).__name__}, which has no predict_proba"
        )
    return LoadedClassifier(record.name, record.version, record.labels, model)

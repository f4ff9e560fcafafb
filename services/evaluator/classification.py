"""Traditional metrics from labels: a confusion matrix that streams, and what it gives.

Counts are all a window needs to keep, so the metrics of any window (sliding or cumulative)
come from summing its counts. The arithmetic mirrors scikit-learn's
`precision_recall_fscore_support` (zero_division=0) and `accuracy_score`, so a stream of
(label, prediction) pairs scores exactly what scikit-learn gives for the same pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ClassMetrics", "ClassificationMetrics", "Confusion", "classification_metrics"]


@dataclass
class Confusion:
    """How often each true label was predicted as each label."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> Confusion:
        """Count (true label, predicted label) pairs."""
        return cls(Counter(pairs))

    def add(self, true: str, predicted: str, n: int = 1) -> None:
        """Count one more (or `n` more) of the pair."""
        self.counts[(true, predicted)] += n

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.counts + other.counts)

    @property
    def labels(self) -> list[str]:
        """Every label seen, true or predicted, sorted (scikit-learn's order)."""
        return sorted({label for pair in self.counts for label in pair})

    @property
    def total(self) -> int:
        """How many pairs were counted."""
        return sum(self.counts.values())

    def matrix(self) -> list[list[int]]:
        """Rows: true label; columns: predicted label; both in `labels` order."""
        labels = self.labels
        return [[self.counts[(t, p)] for p in labels] for t in labels]


@dataclass(frozen=True)
class ClassMetrics:
    """One label's precision, recall, F1 and support (how often it was the true label)."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationMetrics:
    """Accuracy, macro averages, per-class metrics and the confusion matrix."""

    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: Mapping[str, ClassMetrics]
    labels: list[str]
    matrix: list[list[int]]
    count: int


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    safe = np.where(denominator == 0, 1.0, denominator).astype(np.float64)
    return np.where(denominator == 0, 0.0, numerator.astype(np.float64) / safe)


def classification_metrics(confusion: Confusion) -> ClassificationMetrics:
    """Return the metrics of the counted pairs (all zero when there are none)."""
    labels = confusion.labels
    matrix = np.asarray(confusion.matrix(), dtype=np.int64).reshape(len(labels), len(labels))
    tp = np.diag(matrix)
    true_sum = matrix.sum(axis=1)
    pred_sum = matrix.sum(axis=0)
    precision = _divide(tp, pred_sum)
    recall = _divide(tp, true_sum)
    f1 = _divide(2.0 * tp.astype(np.float64), 1.0 * true_sum.astype(np.float64) + pred_sum)
    total = int(matrix.sum())
    per_class = {
        label: ClassMetrics(float(p), float(r), float(f), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, true_sum, strict=True)
    }
    return ClassificationMetrics(
        accuracy=float(tp.sum() / total) if total else 0.0,
        macro_precision=float(np.average(precision)) if labels else 0.0,
        macro_recall=float(np.average(recall)) if labels else 0.0,
        macro_f1=float(np.average(f1)) if labels else 0.0,
        per_class=per_class,
        labels=labels,
        matrix=matrix.tolist(),
        count=total,
    )

"""The offline comparison: macro-F1 as scikit-learn computes it, and a seeded bootstrap
interval around the candidate's difference from production."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from services.trainer.offline import macro_f1, offline_metrics

pytestmark = pytest.mark.loop

LABELS = ("fresh", "rotten", "plot")


def draws(n: int, right: float, seed: int) -> tuple[list[str], list[str]]:
    """Return `n` true labels and predictions that are right with probability `right`."""
    rng = np.random.default_rng(seed)
    truth = [LABELS[i] for i in rng.integers(0, 3, n)]
    said = [t if rng.random() < right else LABELS[int(rng.integers(0, 3))] for t in truth]
    return truth, said


def test_macro_f1_is_scikit_learns_over_the_true_labels() -> None:
    truth, said = draws(300, 0.6, seed=1)
    said[:5] = ["other"] * 5  # a label the holdout does not carry counts only as wrong
    names = sorted({*truth, *said})
    y = np.array([names.index(t) for t in truth])
    p = np.array([names.index(s) for s in said])
    classes = sorted({names.index(t) for t in truth})
    expected = f1_score(truth, said, labels=sorted(set(truth)), average="macro", zero_division=0)
    assert float(macro_f1(y, p, classes)) == pytest.approx(expected)
    stacked = macro_f1(np.stack([y, y]), np.stack([p, y]), classes)
    assert stacked.tolist() == pytest.approx([expected, 1.0])


def test_the_interval_brackets_the_difference_and_is_reproducible() -> None:
    truth, better = draws(400, 0.8, seed=2)
    _, worse = draws(400, 0.5, seed=2)
    metrics = offline_metrics(truth, better, worse, resamples=1000, seed=7)
    assert metrics["holdout_n"] == 400
    assert 0 < metrics["macro_f1_delta_low"] < metrics["macro_f1_delta"]
    assert metrics["macro_f1_delta"] < metrics["macro_f1_delta_high"]
    assert offline_metrics(truth, better, worse, resamples=1000, seed=7) == metrics
    same = offline_metrics(truth, better, better, resamples=1000, seed=7)
    assert same["macro_f1_delta_low"] == same["macro_f1_delta_high"] == 0


def test_without_production_only_the_candidates_figures() -> None:
    truth, said = draws(50, 0.7, seed=3)
    assert set(offline_metrics(truth, said, None)) == {
        "holdout_n",
        "candidate_macro_f1",
        "candidate_accuracy",
    }
    assert offline_metrics([], [], None) == {"holdout_n": 0}

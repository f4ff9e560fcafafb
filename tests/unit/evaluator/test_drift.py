"""Drift of query embeddings (MMD, permutation test) and of categories (PSI)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.evaluator.drift import MIN_SAMPLES, category_drift, embedding_drift


def unit_rows(rng: np.random.Generator, n: int, centre: np.ndarray, spread: float) -> np.ndarray:
    rows = centre + spread * rng.standard_normal((n, len(centre)))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)  # like sentence embeddings


@pytest.mark.evaluation
def test_same_distribution_rarely_drifts_and_a_moved_one_does() -> None:
    rng = np.random.default_rng(3)
    topic = rng.standard_normal(32)
    other = rng.standard_normal(32)
    false_alarms = 0
    for seed in range(20):
        same = embedding_drift(
            unit_rows(rng, 80, topic, 1.0), unit_rows(rng, 80, topic, 1.0), seed=seed
        )
        assert same is not None
        false_alarms += same.severity != "none"
    assert false_alarms <= 3  # a 5% test, 20 tries
    moved = embedding_drift(unit_rows(rng, 80, topic, 1.0), unit_rows(rng, 80, topic + other, 1.0))
    assert moved is not None
    assert moved.severity in ("medium", "high")
    assert moved.p_value is not None
    assert moved.p_value < 0.01
    assert (moved.reference_n, moved.current_n, moved.signal) == (80, 80, "query_embeddings")


def test_too_few_queries_are_not_judged() -> None:
    rng = np.random.default_rng(0)
    few = unit_rows(rng, MIN_SAMPLES - 1, np.ones(8), 1.0)
    assert embedding_drift(few, unit_rows(rng, 100, np.ones(8), 1.0)) is None


def test_psi_of_category_shares() -> None:
    same = category_drift("predictions", {"spam": 50, "ham": 50}, {"spam": 100, "ham": 100})
    assert same is not None
    assert (same.statistic, same.severity) == (0.0, "none")
    shifted = category_drift("labels", {"spam": 50, "ham": 50}, {"spam": 80, "ham": 20})
    assert shifted is not None
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert shifted.statistic == pytest.approx(expected)
    assert shifted.severity == "high"  # 0.42 > 0.25
    # A class never seen before weighs heavily (its reference share is floored at 1e-4).
    new_class = category_drift("labels", {"a": 100}, {"a": 95, "b": 5})
    assert new_class is not None
    floor = 1e-4
    expected = (0.95 - 1) * math.log(0.95) + (0.05 - floor) * math.log(0.05 / floor)
    assert new_class.statistic == pytest.approx(expected)
    assert new_class.severity == "high"
    slight = category_drift("labels", {"a": 60, "b": 40}, {"a": 55, "b": 45})
    assert slight is not None
    assert slight.severity == "none"
    assert category_drift("labels", {"a": 10}, {"a": 100}) is None

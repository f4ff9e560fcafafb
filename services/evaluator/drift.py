"""Drift: has what arrives now moved away from what arrived before?

- Query embeddings: the maximum mean discrepancy (MMD², unbiased, Gaussian kernel with the
  median-distance bandwidth) between a reference sample and a current one, with a
  permutation test's p-value. Severity grows with how far MMD² is beyond the permutation
  null's 95th percentile.
- Predicted labels and true labels: the population stability index (PSI) between the
  reference and current category shares, with the usual thresholds (0.1 moderate, 0.25
  large shift).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import numpy.typing as npt

from shared.contracts.events import DriftReport

__all__ = ["MIN_SAMPLES", "category_drift", "embedding_drift", "mmd2"]

Severity = Literal["none", "low", "medium", "high"]
MIN_SAMPLES = 30
_EPSILON = 1e-4


def _squared_distances(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = (x * x).sum(1)
    squared: npt.NDArray[np.float64] = np.maximum(norms[:, None] + norms[None, :] - 2 * x @ x.T, 0)
    return squared


def _mmd2(
    kernel: npt.NDArray[np.float64], first: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Unbiased MMD² of the split `first` (one 0/1 column per split) of a pooled Gram matrix
    whose diagonal is 1: (aᵀKa - m)/(m(m-1)) + (cᵀKc - n)/(n(n-1)) - 2aᵀKc/(mn)."""
    second = 1.0 - first
    m, n = first.sum(0), second.sum(0)
    k_first, k_second = kernel @ first, kernel @ second
    within_first = ((first * k_first).sum(0) - m) / (m * (m - 1))
    within_second = ((second * k_second).sum(0) - n) / (n * (n - 1))
    between = (first * k_second).sum(0) / (m * n)
    result: npt.NDArray[np.float64] = within_first + within_second - 2 * between
    return result


def mmd2(
    reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64], gamma: float
) -> float:
    """Return the unbiased MMD² estimate between two samples (rows are vectors)."""
    pooled = np.vstack([reference, current]).astype(np.float64)
    kernel = np.exp(-gamma * _squared_distances(pooled))
    split = np.zeros((len(pooled), 1))
    split[: len(reference)] = 1.0
    return float(_mmd2(kernel, split)[0])


def embedding_drift(
    reference: npt.NDArray[np.float64],
    current: npt.NDArray[np.float64],
    *,
    permutations: int = 200,
    seed: int = 0,
) -> DriftReport | None:
    """Return the query-embedding drift report, or None with too few samples to judge.

    The Gram matrix of the pooled sample is computed once; every permutation only re-splits
    it, so a report costs one (m+n)² kernel and a few matrix products.
    """
    if min(len(reference), len(current)) < MIN_SAMPLES:
        return None
    pooled = np.vstack([reference, current]).astype(np.float64)
    squared = _squared_distances(pooled)
    median = float(np.median(squared[np.triu_indices(len(pooled), 1)]))
    gamma = 1.0 / median if median > 0 else 1.0
    kernel = np.exp(-gamma * squared)
    np.fill_diagonal(kernel, 1.0)
    observed_split = np.zeros((len(pooled), 1))
    observed_split[: len(reference)] = 1.0
    observed = float(_mmd2(kernel, observed_split)[0])
    rng = np.random.default_rng(seed)
    splits = np.zeros((len(pooled), permutations))
    for i in range(permutations):
        splits[rng.permutation(len(pooled))[: len(reference)], i] = 1.0
    null = _mmd2(kernel, splits)
    p_value = float((1 + (null >= observed).sum()) / (1 + permutations))
    threshold = float(np.quantile(null, 0.95))
    severity: Severity = "none"
    if p_value < 0.05:
        ratio = observed / threshold if threshold > 0 else math.inf
        severity = "low" if ratio < 2 else "medium" if ratio < 5 else "high"
    return DriftReport(
        signal="query_embeddings",
        statistic=observed,
        method="MMD² (Gaussian kernel, median bandwidth), permutation test",
        p_value=p_value,
        severity=severity,
        reference_n=len(reference),
        current_n=len(current),
    )


def category_drift(
    signal: Literal["predictions", "labels"],
    reference: Mapping[str, int],
    current: Mapping[str, int],
) -> DriftReport | None:
    """Return the PSI drift report of a categorical distribution, or None if too small."""
    total_r, total_c = sum(reference.values()), sum(current.values())
    if min(total_r, total_c) < MIN_SAMPLES:
        return None
    psi = 0.0
    for category in set(reference) | set(current):
        r = max(reference.get(category, 0) / total_r, _EPSILON)
        c = max(current.get(category, 0) / total_c, _EPSILON)
        psi += (c - r) * math.log(c / r)
    severity: Severity = (
        "none" if psi < 0.05 else "low" if psi < 0.1 else "medium" if psi < 0.25 else "high"
    )
    return DriftReport(
        signal=signal,
        statistic=psi,
        method="population stability index",
        severity=severity,
        reference_n=total_r,
        current_n=total_c,
    )

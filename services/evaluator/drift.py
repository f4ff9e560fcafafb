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

from shared.events import DriftReport

__all__ = ["MIN_SAMPLES", "category_drift", "embedding_drift", "mmd2"]

Severity = Literal["none", "low", "medium", "high"]
MIN_SAMPLES = 30
_EPSILON = 1e-4


def _kernel(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], gamma: float
) -> npt.NDArray[np.float64]:
    squared = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    kernel: npt.NDArray[np.float64] = np.exp(-gamma * np.maximum(squared, 0.0))
    return kernel


def mmd2(
    reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64], gamma: float
) -> float:
    """Return the unbiased MMD² estimate between two samples (rows are vectors)."""
    m, n = len(reference), len(current)
    k_rr = _kernel(reference, reference, gamma)
    k_cc = _kernel(current, current, gamma)
    k_rc = _kernel(reference, current, gamma)
    within_r = (k_rr.sum() - np.trace(k_rr)) / (m * (m - 1))
    within_c = (k_cc.sum() - np.trace(k_cc)) / (n * (n - 1))
    return float(within_r + within_c - 2 * k_rc.mean())


def embedding_drift(
    reference: npt.NDArray[np.float64],
    current: npt.NDArray[np.float64],
    *,
    permutations: int = 200,
    seed: int = 0,
) -> DriftReport | None:
    """Return the query-embedding drift report, or None with too few samples to judge."""
    if min(len(reference), len(current)) < MIN_SAMPLES:
        return None
    pooled = np.vstack([reference, current]).astype(np.float64)
    squared = ((pooled[:, None, :] - pooled[None, :, :]) ** 2).sum(-1)
    median = float(np.median(squared[np.triu_indices(len(pooled), 1)]))
    gamma = 1.0 / median if median > 0 else 1.0
    observed = mmd2(pooled[: len(reference)], pooled[len(reference) :], gamma)
    rng = np.random.default_rng(seed)
    null = np.empty(permutations)
    for i in range(permutations):
        order = rng.permutation(len(pooled))
        null[i] = mmd2(pooled[order[: len(reference)]], pooled[order[len(reference) :]], gamma)
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

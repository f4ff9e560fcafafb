"""The offline comparison: a candidate and the production model scored on the same held-out
rows, with a bootstrap interval of their macro-F1 difference.

The evaluator's loop gates on these figures (the candidate goes on only if its macro-F1 is
not worse beyond a margin, judged on the interval, not on two point estimates).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["macro_f1", "offline_metrics"]

Labels = npt.NDArray[np.int64]
# Resamples scored at once: bounds the index matrix (chunk x rows) for large holdouts.
_CHUNK = 200


def macro_f1(truth: Labels, predicted: Labels, classes: Sequence[int]) -> npt.NDArray[np.float64]:
    """Return the macro-F1 over `classes` of each row of `truth` against `predicted`.

    Works on one sample (1-D) or a stack of resamples (2-D, one per row); a class neither
    present nor predicted in a sample scores 0, as scikit-learn's `zero_division=0` does.
    """
    scores = []
    for k in classes:
        is_k, said_k = truth == k, predicted == k
        tp = (is_k & said_k).sum(axis=-1)
        wrong = (~is_k & said_k).sum(axis=-1) + (is_k & ~said_k).sum(axis=-1)
        denominator = 2 * tp + wrong
        scores.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
    return np.asarray(np.mean(scores, axis=0), dtype=np.float64)


def _bootstrap_deltas(
    truth: Labels,
    candidate: Labels,
    production: Labels,
    classes: Sequence[int],
    *,
    resamples: int,
    seed: int,
) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    deltas = []
    for start in range(0, resamples, _CHUNK):
        rows = rng.integers(0, len(truth), size=(min(_CHUNK, resamples - start), len(truth)))
        deltas.append(
            macro_f1(truth[rows], candidate[rows], classes)
            - macro_f1(truth[rows], production[rows], classes)
        )
    return np.concatenate(deltas)


def offline_metrics(
    truth: Sequence[str],
    candidate: Sequence[str],
    production: Sequence[str] | None,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Return the held-out figures of a candidate, and of production when there is one.

    Macro-F1 averages over the labels the held-out rows carry. With a production model,
    `macro_f1_delta` is candidate minus production, and `_low`/`_high` bound its 95%
    percentile bootstrap interval (`resamples` resamples of the rows, seeded).
    """
    metrics: dict[str, float] = {"holdout_n": float(len(truth))}
    if not truth:
        return metrics
    names = sorted({*truth, *candidate, *(production or ())})
    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[t] for t in truth], dtype=np.int64)
    c = np.array([index[t] for t in candidate], dtype=np.int64)
    classes = sorted({index[t] for t in truth})
    metrics["candidate_macro_f1"] = float(macro_f1(y, c, classes))
    metrics["candidate_accuracy"] = float(np.mean(y == c))
    if production is None:
        return metrics
    p = np.array([index[t] for t in production], dtype=np.int64)
    metrics["production_macro_f1"] = float(macro_f1(y, p, classes))
    metrics["production_accuracy"] = float(np.mean(y == p))
    metrics["macro_f1_delta"] = metrics["candidate_macro_f1"] - metrics["production_macro_f1"]
    deltas = _bootstrap_deltas(y, c, p, classes, resamples=resamples, seed=seed)
    low, high = np.percentile(deltas, [2.5, 97.5])
    metrics["macro_f1_delta_low"] = float(low)
    metrics["macro_f1_delta_high"] = float(high)
    return metrics

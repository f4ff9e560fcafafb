"""The evaluator service's own Prometheus series (served with the kit's on its endpoint)."""

from __future__ import annotations

from prometheus_client import Histogram

from shared.contracts.events import Evaluation

__all__ = [
    "RETRIEVAL_RELEVANCE",
    "observe_evaluation",
]

RETRIEVAL_RELEVANCE = Histogram(
    "pillars_retrieval_relevance",
    "Mean similarity of a prediction's retrieved passages to its query.",
    ["experiment", "variant"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)


def observe_evaluation(evaluation: Evaluation) -> None:
    """Count a prediction's retrieval relevance under its arm."""
    RETRIEVAL_RELEVANCE.labels(evaluation.experiment, evaluation.variant).observe(
        evaluation.retrieval_relevance or 0.0
    )

"""The inference service's own Prometheus series (served with the kit's on its endpoint)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from shared.contracts.events import Prediction
from shared.kit.metrics import LATENCY_BUCKETS

__all__ = [
    "GENERATOR_COST",
    "GENERATOR_TOKENS",
    "PREDICTIONS",
    "PREDICTION_LATENCY",
    "RETRIEVAL_DURATION",
    "observe",
]

PREDICTIONS = Counter(
    "pillars_predictions_total", "Predictions published.", ["experiment", "variant", "model"]
)
PREDICTION_LATENCY = Histogram(
    "pillars_prediction_latency_seconds",
    "From the request's occurrence to its prediction.",
    ["experiment", "variant"],
    buckets=LATENCY_BUCKETS,
)
RETRIEVAL_DURATION = Histogram(
    "pillars_retrieval_duration_seconds",
    "One nearest-neighbour query against the index.",
    buckets=LATENCY_BUCKETS,
)
GENERATOR_TOKENS = Counter(
    "pillars_generator_tokens_total", "Tokens a generator read or wrote.", ["model", "direction"]
)
GENERATOR_COST = Counter(
    "pillars_generator_cost_usd_total", "Estimated generator cost in US dollars.", ["model"]
)


def observe(prediction: Prediction) -> None:
    """Count the prediction, its latency, tokens and cost in the process' metrics."""
    arm = (prediction.experiment, prediction.variant)
    PREDICTIONS.labels(*arm, prediction.model.name).inc()
    latency = (prediction.occurred_at - prediction.request_occurred_at).total_seconds()
    PREDICTION_LATENCY.labels(*arm).observe(max(0.0, latency))
    GENERATOR_TOKENS.labels(prediction.model.name, "input").inc(prediction.input_tokens)
    GENERATOR_TOKENS.labels(prediction.model.name, "output").inc(prediction.output_tokens)
    GENERATOR_COST.labels(prediction.model.name).inc(prediction.estimated_cost_usd)

"""The trainer's own Prometheus series (served with the kit's on its endpoint), and what
updates them."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from shared.contracts.events import ModelRegistered

__all__ = ["CANDIDATE_MACRO_F1", "TRAINING_RUNS", "observe_registered"]

TRAINING_RUNS = Counter(
    "pillars_training_runs_total",
    "Training requests answered, by model and outcome (registered or refused).",
    ["model", "outcome"],
)
CANDIDATE_MACRO_F1 = Gauge(
    "pillars_candidate_macro_f1",
    "The newest candidate's macro-F1 on its held-out labels.",
    ["model"],
)


def observe_registered(registered: ModelRegistered) -> None:
    """Count the answer and export the candidate's held-out macro-F1."""
    outcome = "registered" if registered.admitted and registered.version else "refused"
    TRAINING_RUNS.labels(registered.model, outcome).inc()
    if "candidate_macro_f1" in registered.metrics:
        CANDIDATE_MACRO_F1.labels(registered.model).set(registered.metrics["candidate_macro_f1"])

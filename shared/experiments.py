"""Experiments: weighted arms, each arm a solution, and shadow arms that only record.

Ingestion assigns a request to an arm by a deterministic hash of the experiment's unit
(user, session or request id) and salt, and remembers the assignment, so a user keeps
their arm when the arms' weights change. Inference runs the arm's solution and, for
every request, each shadow arm's solution too: shadow answers are recorded
(`predictions.shadow`), never returned.
"""

from __future__ import annotations

from shared.buckets import bucket
from shared.contracts.experiments import Arm, Experiment

__all__ = ["Arm", "Experiment", "assign_arm", "bucket"]


def assign_arm(experiment: Experiment, unit: str) -> Arm:
    """Return the live arm whose cumulative weight range holds the unit's bucket."""
    arms = [arm for arm in experiment.live_arms if arm.weight > 0]
    point = bucket(experiment.salt, unit) * sum(arm.weight for arm in arms)
    for arm in arms:
        if point < arm.weight:
            return arm
        point -= arm.weight
    return arms[-1]  # floating-point rounding at the top edge

"""Assign a request to an experiment arm by a deterministic hash of its unit."""

from __future__ import annotations

from services.ingestion.config import Arm, Experiment
from shared.buckets import bucket

__all__ = ["assign_arm", "bucket"]


def assign_arm(experiment: Experiment, unit: str) -> Arm:
    """Return the arm whose cumulative weight range holds the unit's bucket."""
    point = bucket(experiment.salt, unit) * sum(arm.weight for arm in experiment.arms)
    for arm in experiment.arms:
        if point < arm.weight:
            return arm
        point -= arm.weight
    return experiment.arms[-1]  # floating-point rounding at the top edge

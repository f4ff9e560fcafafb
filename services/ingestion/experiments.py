"""Assign a request to an experiment arm by a deterministic hash of its unit."""

from __future__ import annotations

import hashlib

from services.ingestion.config import Arm, Experiment

__all__ = ["assign_arm", "bucket"]


def bucket(salt: str, unit: str) -> float:
    """Map (salt, unit) to a number in [0, 1) that never changes for the same pair."""
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arm(experiment: Experiment, unit: str) -> Arm:
    """Return the arm whose cumulative weight range holds the unit's bucket."""
    point = bucket(experiment.salt, unit) * sum(arm.weight for arm in experiment.arms)
    for arm in experiment.arms:
        if point < arm.weight:
            return arm
        point -= arm.weight
    return experiment.arms[-1]  # floating-point rounding at the top edge

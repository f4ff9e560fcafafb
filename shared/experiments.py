"""Experiments: weighted arms, each arm a solution, and shadow arms that only record.

Ingestion assigns a request to an arm by a deterministic hash of the experiment's unit
(user, session or request id) and salt, and remembers the assignment, so a user keeps
their arm while it serves (a live arm with weight), however the weights change; an arm
removed or set to weight 0 serves nobody, and its users are assigned again. Inference
runs the arm's solution and, for every request, each shadow arm's solution too: shadow
answers are recorded (`predictions.shadow`), never returned.
"""

from __future__ import annotations

from shared.buckets import bucket
from shared.contracts.experiments import Arm, Experiment

__all__ = ["Arm", "Experiment", "assign_arm", "bucket", "promoted", "serving_arms"]


def serving_arms(experiment: Experiment) -> tuple[Arm, ...]:
    """Return the arms that take traffic: live (not shadow) with a weight above 0."""
    return tuple(arm for arm in experiment.live_arms if arm.weight > 0)


def assign_arm(experiment: Experiment, unit: str) -> Arm:
    """Return the serving arm whose cumulative weight range holds the unit's bucket."""
    arms = serving_arms(experiment)
    point = bucket(experiment.salt, unit) * sum(arm.weight for arm in arms)
    for arm in arms:
        if point < arm.weight:
            return arm
        point -= arm.weight
    return arms[-1]  # floating-point rounding at the top edge


def promoted(experiment: Experiment, name: str) -> Experiment:
    """Return `experiment` with arm `name` taking all traffic: its weight 1 (a shadow arm
    becomes live), every other live arm kept at weight 0, shadow arms as they were.

    An arm at weight 0 serves nobody, so the users remembered on the other arms are
    assigned again, to the promoted one; the kept arms say what was compared, and can be
    given traffic again by a later version.
    """
    if experiment.arm(name) is None:
        names = ", ".join(arm.name for arm in experiment.arms)
        raise ValueError(f"experiment {experiment.name!r} has no arm {name!r} (its arms: {names})")
    arms = tuple(
        arm.model_copy(update={"weight": 1.0, "shadow": False})
        if arm.name == name
        else arm
        if arm.shadow
        else arm.model_copy(update={"weight": 0.0})
        for arm in experiment.arms
    )
    return Experiment(**experiment.model_dump(exclude={"arms"}), arms=arms)  # validated again

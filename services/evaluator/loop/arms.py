"""How the loop changes a model's experiment: the candidate's shadow arm, its challenger arm
and the production arm's share, as new experiment values (pure)."""

from __future__ import annotations

from services.evaluator.config import LoopModel
from shared.contracts.experiments import Arm, Experiment

__all__ = [
    "UnknownArm",
    "challenger_arm",
    "shadow_arm",
    "with_challenger",
    "with_production",
    "with_shadow",
    "without_candidate",
]


class UnknownArm(LookupError):  # noqa: N818 - it names the outcome
    """The experiment has no arm the loop's configuration names."""


def shadow_arm(version: int) -> str:
    """Return the name of version `version`'s shadow arm."""
    return f"shadow-v{version}"


def challenger_arm(version: int) -> str:
    """Return the name of version `version`'s challenger arm."""
    return f"challenger-v{version}"


def _production(experiment: Experiment, model: LoopModel) -> Arm:
    arm = experiment.arm(model.production_arm)
    if arm is None or arm.shadow:
        raise UnknownArm(
            f"experiment {experiment.name!r} has no live arm {model.production_arm!r} for "
            f"model {model.name!r}: set its `production_arm` in PILLARS_LOOP_MODELS, or add "
            "the arm with `pillars experiment set`"
        )
    return arm


def _replace(experiment: Experiment, arms: list[Arm]) -> Experiment:
    # Validated again (a live arm with weight, unique names), unlike a model_copy.
    return Experiment.model_validate(experiment.model_dump() | {"arms": arms})


def _arm(base: Arm, **changes: object) -> Arm:
    return Arm.model_validate(base.model_dump() | changes)


def with_shadow(experiment: Experiment, model: LoopModel, version: int) -> Experiment:
    """Return the experiment with version `version` answering every request as a shadow
    (recorded, never returned), configured like the production arm."""
    production = _production(experiment, model)
    shadow = _arm(
        production,
        name=shadow_arm(version),
        weight=0.0,
        solution=model.solution,
        model_version=version,
        shadow=True,
        shadows=production.name,
    )
    kept = [arm for arm in experiment.arms if arm.name != shadow.name]
    return _replace(experiment, [*kept, shadow])


def with_challenger(
    experiment: Experiment, model: LoopModel, version: int, share: float
) -> Experiment:
    """Return the experiment with version `version` taking `share` of the production arm's
    traffic (its shadow arm gone); the two together keep the production arm's weight."""
    production = _production(experiment, model)
    name = challenger_arm(version)
    current = experiment.arm(name)
    total = production.weight + (current.weight if current else 0.0)
    challenger = _arm(
        production, name=name, weight=total * share, solution=model.solution, model_version=version
    )
    arms = []
    for arm in experiment.arms:
        if arm.name == production.name:
            arms.append(_arm(arm, weight=total * (1 - share)))
        elif arm.name not in (name, shadow_arm(version)):
            arms.append(arm)
    return _replace(experiment, [*arms, challenger])


def without_candidate(experiment: Experiment, model: LoopModel, version: int) -> Experiment:
    """Return the experiment without version `version`'s arms, its traffic back on the
    production arm."""
    production = _production(experiment, model)
    current = experiment.arm(challenger_arm(version))
    weight = production.weight + (current.weight if current else 0.0)
    arms = []
    for arm in experiment.arms:
        if arm.name == production.name:
            arms.append(_arm(arm, weight=weight))
        elif arm.name not in (challenger_arm(version), shadow_arm(version)):
            arms.append(arm)
    return _replace(experiment, arms)


def with_production(experiment: Experiment, model: LoopModel, version: int) -> Experiment:
    """Return the experiment once version `version` is promoted: its arms gone and the
    production arm serving the registry's production version (now this one) to all its
    traffic."""
    production = _production(experiment, model)
    restored = without_candidate(experiment, model, version)
    arms = [
        _arm(arm, model_version=None) if arm.name == production.name else arm
        for arm in restored.arms
    ]
    return _replace(restored, arms)

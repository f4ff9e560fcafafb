"""The experiment edits the loop makes: a shadow arm, a challenger's share of the production
arm's traffic, the candidate's arms removed, and the production arm after a promotion."""

from __future__ import annotations

import pytest

from services.evaluator.config import LoopModel
from services.evaluator.loop.arms import (
    UnknownArm,
    with_challenger,
    with_production,
    with_shadow,
    without_candidate,
)
from shared.contracts.experiments import Arm, Experiment

pytestmark = pytest.mark.loop

MODEL = LoopModel(name="sentiment", tenant="acme", experiment="reviews")
START = Experiment(
    name="reviews",
    unit="request_id",
    arms=(
        Arm(name="control", weight=0.8, solution="text-classifier"),
        Arm(name="rag", weight=0.2, solution="rag-answerer", top_k=3),
    ),
)


def weights(experiment: Experiment) -> dict[str, float]:
    return {arm.name: arm.weight for arm in experiment.arms}


def test_the_shadow_arm_answers_with_the_candidate_and_takes_no_traffic() -> None:
    shadowed = with_shadow(START, MODEL, 2)
    shadow = shadowed.arm("shadow-v2")
    assert shadow is not None
    assert (shadow.shadow, shadow.model_version, shadow.solution) == (True, 2, "text-classifier")
    assert shadow.shadows == "control"  # the production arm's requests only
    assert weights(shadowed) == {"control": 0.8, "rag": 0.2, "shadow-v2": 0.0}
    assert with_shadow(shadowed, MODEL, 2) == shadowed  # doing it again changes nothing


def test_the_challenger_takes_its_share_of_the_production_arm_only() -> None:
    first = with_challenger(with_shadow(START, MODEL, 2), MODEL, 2, 0.1)
    assert weights(first) == pytest.approx({"control": 0.72, "rag": 0.2, "challenger-v2": 0.08})
    assert first.arm("shadow-v2") is None
    challenger = first.arm("challenger-v2")
    assert challenger is not None
    assert challenger.model_version == 2
    assert not challenger.shadow
    second = with_challenger(first, MODEL, 2, 0.5)
    assert weights(second) == pytest.approx({"control": 0.4, "rag": 0.2, "challenger-v2": 0.4})


def test_removing_the_candidate_gives_its_traffic_back() -> None:
    challenged = with_challenger(START, MODEL, 2, 0.5)
    assert without_candidate(challenged, MODEL, 2) == START
    assert without_candidate(with_shadow(START, MODEL, 2), MODEL, 2) == START
    assert without_candidate(START, MODEL, 3) == START  # nothing of v3 to remove


def test_after_a_promotion_the_production_arm_serves_the_registry_s_production_version() -> None:
    pinned = START.model_copy(
        update={"arms": (START.arms[0].model_copy(update={"model_version": 1}), START.arms[1])}
    )
    promoted = with_production(with_challenger(pinned, MODEL, 2, 0.5), MODEL, 2)
    control = promoted.arm("control")
    assert control is not None
    assert control.model_version is None
    assert weights(promoted) == pytest.approx({"control": 0.8, "rag": 0.2})


def test_an_experiment_without_the_production_arm_is_named_with_the_fix() -> None:
    other = LoopModel(name="sentiment", tenant="acme", experiment="reviews", production_arm="x")
    with pytest.raises(UnknownArm, match=r"no live arm 'x'.*PILLARS_LOOP_MODELS"):
        with_shadow(START, other, 2)

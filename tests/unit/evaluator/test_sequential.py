"""The A/B decision rule: always valid under continuous looks, and powerful enough."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.evaluator.sequential import ArmSummary, SequentialTest
from services.evaluator.simulation import peeking_z_test, simulate

RULE = SequentialTest()


@pytest.mark.evaluation
def test_aa_experiments_watched_continuously_rarely_name_a_winner() -> None:
    # 500 A/A experiments, 5% CTR, up to 20,000 users per arm, looked at every 100 users.
    result = simulate(
        RULE, experiments=500, per_arm=20_000, base_rate=0.05, lift=0.0, look_every=100, seed=11
    )
    assert result.winner_rate <= 0.05
    # The habit it replaces, on the same draws, is fooled many times as often.
    peeking = peeking_z_test(
        experiments=500, per_arm=20_000, base_rate=0.05, lift=0.0, look_every=100, seed=11
    )
    assert peeking.winner_rate > 4 * max(result.winner_rate, 0.01)


@pytest.mark.evaluation
def test_ab_experiments_with_a_20_percent_ctr_lift_find_the_right_winner() -> None:
    result = simulate(
        RULE, experiments=500, per_arm=20_000, base_rate=0.05, lift=0.2, look_every=100, seed=12
    )
    assert result.right_winner_rate >= 0.80
    assert result.wrong_winner_rate <= 0.01
    assert result.mean_users_per_arm < 20_000  # it stops early once sure


def test_a_simulation_decides_each_look_exactly_as_decide_does() -> None:
    """The simulations measure the production rule: replaying one experiment's looks through
    `decide` (previous p-value carried) stops where the simulation stopped, with its winner."""
    for seed in range(20):
        per_arm, every = 3_000, 100
        one = simulate(
            RULE, experiments=1, per_arm=per_arm, base_rate=0.1, lift=0.3, look_every=every,
            seed=seed,
        )  # fmt: skip
        draws = np.random.default_rng(seed)  # the same draws `simulate` makes
        looks = np.arange(every, per_arm + 1, every)
        steps = np.diff(np.concatenate([[0], looks]))
        clicks_a = np.cumsum(draws.binomial(steps, 0.1, (1, len(looks))), axis=1)[0]
        clicks_b = np.cumsum(draws.binomial(steps, 0.1 * 1.3, (1, len(looks))), axis=1)[0]
        p, stopped_at, won = 1.0, looks[-1], False
        for n, a, b in zip(looks, clicks_a, clicks_b, strict=True):
            control = ArmSummary.of_rate("a", int(n), int(a))
            treatment = ArmSummary.of_rate("b", int(n), int(b))
            decision = RULE.decide("ctr", control, treatment, previous_p=p)
            p = decision.p_value
            if decision.outcome != "keep running":
                stopped_at, won = n, decision.outcome == "winner"
                break
        assert one.mean_users_per_arm == stopped_at
        assert one.winner_rate == float(won)


def test_too_few_users_keep_it_running_whatever_the_numbers() -> None:
    decision = RULE.decide(
        "ctr", ArmSummary.of_rate("a", 150, 0), ArmSummary.of_rate("b", 150, 150)
    )
    assert (decision.outcome, decision.winner) == ("keep running", None)
    assert (decision.ci_low, decision.ci_high) == (-math.inf, math.inf)


def test_a_clear_effect_names_the_better_arm_for_the_metrics_direction() -> None:
    control, treatment = ArmSummary.of_rate("a", 5000, 500), ArmSummary.of_rate("b", 5000, 700)
    up = RULE.decide("ctr", control, treatment)
    assert (up.outcome, up.winner) == ("winner", "b")
    assert up.ci_low > 0
    assert up.relative_effect == pytest.approx(0.4)
    # For latency lower is better: the same numbers make the control the winner.
    down = RULE.decide("latency", control, treatment, higher_is_better=False)
    assert down.winner == "a"


def test_equal_arms_with_many_users_end_as_no_difference() -> None:
    control = ArmSummary.of_moments("a", 400_000, 400_000 * 4.0, 400_000 * (16.0 + 0.25))
    treatment = ArmSummary.of_moments("b", 400_000, 400_000 * 4.0005, 400_000 * (16.004 + 0.25))
    decision = RULE.decide("rating", control, treatment)
    assert decision.outcome == "no difference"
    assert -RULE.equivalence * 4 < decision.ci_low < decision.ci_high < RULE.equivalence * 4


def test_the_p_value_only_falls_between_looks() -> None:
    control, treatment = ArmSummary.of_rate("a", 2000, 200), ArmSummary.of_rate("b", 2000, 201)
    fresh = RULE.decide("ctr", control, treatment)
    assert fresh.p_value == 1.0
    remembered = RULE.decide("ctr", control, treatment, previous_p=0.03)
    assert (remembered.p_value, remembered.outcome) == (0.03, "winner")


def test_moments_give_the_sample_variance() -> None:
    values = [1.0, 2.0, 4.0, 5.0]
    arm = ArmSummary.of_moments("a", 4, sum(values), sum(v * v for v in values))
    assert arm.mean == 3.0
    assert arm.variance == pytest.approx(float(np.var(values, ddof=1)))

"""Simulated experiments to check the A/B decision rule: how often it names a false winner
when the arms are the same (A/A), how often it finds a real one (A/B).

Every experiment is watched continuously: the rule is applied after every `look_every`
users per arm, and the experiment stops at its first decision (a winner or "no
difference"), as a team watching a dashboard would. Each look goes through
`SequentialTest.rule`, vectorised over the experiments: the one function `decide` runs for
the evaluator's reports and the loop, so what is measured here is what decides in production.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.evaluator.sequential import SequentialTest

__all__ = ["SimulationResult", "peeking_z_test", "simulate"]


@dataclass(frozen=True)
class SimulationResult:
    """Shares of experiments that ended with a winner (right or wrong) and the mean size."""

    experiments: int
    winner_rate: float
    right_winner_rate: float
    wrong_winner_rate: float
    mean_users_per_arm: float


def _rates(
    experiments: int, per_arm: int, base_rate: float, lift: float, look_every: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    looks = np.arange(look_every, per_arm + 1, look_every)
    clicks_a = np.zeros((experiments, len(looks)))
    clicks_b = np.zeros((experiments, len(looks)))
    # Binomial increments between looks: the same law as per-user draws, a fraction of the memory.
    steps = np.diff(np.concatenate([[0], looks]))
    clicks_a = np.cumsum(rng.binomial(steps, base_rate, (experiments, len(looks))), axis=1)
    clicks_b = np.cumsum(
        rng.binomial(steps, base_rate * (1 + lift), (experiments, len(looks))), axis=1
    )
    n = looks[None, :].astype(np.float64)
    return looks, clicks_a / n, clicks_b / n


def _outcomes(
    looks: np.ndarray, effect: np.ndarray, winner: np.ndarray, stopped: np.ndarray, lift: float
) -> SimulationResult:
    """Stop each experiment at its first decision (or at the horizon) and tally the winners."""
    experiments = len(effect)
    first = np.where(stopped.any(axis=1), stopped.argmax(axis=1), len(looks) - 1)
    rows = np.arange(experiments)
    won = winner[rows, first]
    right = won & ((effect[rows, first] > 0) == (lift > 0)) & (lift != 0)
    return SimulationResult(
        experiments=experiments,
        winner_rate=float(won.mean()),
        right_winner_rate=float(right.mean()),
        wrong_winner_rate=float((won & ~right).mean()),
        mean_users_per_arm=float(looks[first].mean()),
    )


def simulate(
    test: SequentialTest,
    *,
    experiments: int,
    per_arm: int,
    base_rate: float,
    lift: float,
    look_every: int = 100,
    seed: int = 0,
) -> SimulationResult:
    """Run `experiments` CTR experiments whose treatment has `lift` (relative) over control."""
    looks, rate_a, rate_b = _rates(experiments, per_arm, base_rate, lift, look_every, seed)
    effect = rate_b - rate_a
    variance = (rate_a * (1 - rate_a) + rate_b * (1 - rate_b)) / looks[None, :]
    pooled = (rate_a + rate_b) / 2
    winner = np.zeros(effect.shape, dtype=bool)
    no_difference = np.zeros(effect.shape, dtype=bool)
    p_value = np.ones(experiments)
    # Look by look, through the same rule `decide` applies to the evaluator's reports.
    for j, n in enumerate(looks):
        look = test.rule(effect[:, j], variance[:, j], pooled[:, j], rate_a[:, j], n, p_value)
        p_value, winner[:, j], no_difference[:, j] = look.p_value, look.winner, look.no_difference
    return _outcomes(looks, effect, winner, winner | no_difference, lift)


def peeking_z_test(
    *,
    experiments: int,
    per_arm: int,
    base_rate: float,
    lift: float,
    look_every: int = 100,
    seed: int = 0,
    min_samples: int = 200,
) -> SimulationResult:
    """The habit the rule replaces: a fixed-horizon two-proportion z-test (alpha = 0.05),
    checked at every look and stopped at the first p < 0.05."""
    looks, rate_a, rate_b = _rates(experiments, per_arm, base_rate, lift, look_every, seed)
    effect = rate_b - rate_a
    variance = (rate_a * (1 - rate_a) + rate_b * (1 - rate_b)) / looks[None, :]
    z = np.abs(effect) / np.sqrt(np.maximum(variance, 1e-300))
    winner = (z > 1.959963984540054) & (looks >= min_samples)[None, :]
    return _outcomes(looks, effect, winner, winner, lift)

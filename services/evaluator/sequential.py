"""A/B decisions that stay valid while people watch the results continuously.

A fixed-horizon p-value checked every minute declares false winners far more often than its
alpha. This uses the mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
Pekelis and Walsh, "Always Valid Inference" (Operations Research, 2022), the method behind
Optimizely's stats engine: for the difference θ of two arms' means, with the estimate d and
its variance V (the arms' sample variances over their sizes) and a normal mixture N(0, τ²)
over θ,

    Λ = sqrt(V / (V + τ²)) · exp(τ² d² / (2 V (V + τ²)))

is a likelihood ratio whose running maximum exceeds 1/alpha with probability at most alpha under
θ = 0, however often it is looked at. So `p = min over time of 1/Λ` is an always-valid
p-value, and the matching confidence sequence

    d ± sqrt(V (V + τ²) / τ² · (2 log(1/alpha) + log((V + τ²) / V)))

covers θ at every moment with probability 1 - alpha. Decisions: a winner once p <= alpha; "no
difference" once the whole confidence sequence lies within the equivalence margin; else
keep running. τ is the effect one expects, `relative_effect` times the pooled mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["ABDecision", "ArmSummary", "Looks", "SequentialTest"]

Outcome = Literal["keep running", "winner", "no difference"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ArmSummary:
    """What the test needs of one arm: its size, mean and per-observation variance."""

    name: str
    n: int
    mean: float
    variance: float

    @classmethod
    def of_rate(cls, name: str, n: int, successes: int) -> ArmSummary:
        """An arm of a rate (CTR, conversion): `successes` of `n`."""
        rate = successes / n if n else 0.0
        return cls(name, n, rate, rate * (1 - rate))

    @classmethod
    def of_moments(cls, name: str, n: int, total: float, total_squares: float) -> ArmSummary:
        """An arm of a mean (rating, latency) from its sum and sum of squares."""
        if n < 2:
            return cls(name, n, total / n if n else 0.0, 0.0)
        mean = total / n
        return cls(name, n, mean, max(0.0, (total_squares - n * mean * mean) / (n - 1)))


@dataclass(frozen=True)
class ABDecision:
    """The effect of treatment over control, its confidence interval and the decision."""

    metric: str
    control: str
    treatment: str
    effect: float
    relative_effect: float
    ci_low: float
    ci_high: float
    p_value: float
    outcome: Outcome
    winner: str | None
    n_control: int
    n_treatment: int


@dataclass(frozen=True)
class Looks:
    """The rule applied to one look of one or many experiments (arrays alike)."""

    p_value: FloatArray
    low: FloatArray
    high: FloatArray
    winner: npt.NDArray[np.bool_]
    no_difference: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class SequentialTest:
    """mSPRT with a normal mixture; see the module's docstring."""

    alpha: float = 0.05
    relative_effect: float = 0.1
    equivalence: float = 0.02
    min_samples: int = 200

    def statistics(
        self, d: FloatArray | float, variance: FloatArray | float, scale: FloatArray | float
    ) -> tuple[FloatArray, FloatArray]:
        """Return (1/Λ, the confidence half-width) for estimates `d` of variance `variance`;
        `scale` is the pooled mean that sets τ. Works on arrays, for simulations."""
        v = np.asarray(variance, dtype=np.float64)
        tau2 = (self.relative_effect * np.abs(np.asarray(scale, dtype=np.float64))) ** 2
        d = np.asarray(d, dtype=np.float64)
        # No spread (every observation equal) or nothing to scale by: no evidence either way.
        informative = (v > 0) & (tau2 > 0)
        v, tau2 = np.where(informative, v, 1.0), np.where(informative, tau2, 1.0)
        log_ratio = 0.5 * np.log(v / (v + tau2)) + tau2 * d * d / (2 * v * (v + tau2))
        inverse_ratio = np.where(informative, np.exp(-np.maximum(log_ratio, 0.0)), 1.0)
        half = np.where(
            informative,
            np.sqrt(
                v * (v + tau2) / tau2 * (2 * math.log(1 / self.alpha) + np.log((v + tau2) / v))
            ),
            np.inf,
        )
        return inverse_ratio, half

    def rule(
        self,
        effect: FloatArray | float,
        variance: FloatArray | float,
        pooled: FloatArray | float,
        control_mean: FloatArray | float,
        smaller_arm: FloatArray | float,
        previous_p: FloatArray | float,
    ) -> Looks:
        """Apply the decision rule to one look of each experiment (arrays, or scalars for
        one): `effect` (treatment - control) with `variance`, the `pooled` mean that sets τ,
        the control's mean (the equivalence margin's scale), the smaller arm's size, and the
        p-value of the previous look (it only falls: that is what keeps it valid).

        `decide` (the evaluator's reports, the loop) and the simulations that measure false
        winners and power both run this one function.
        """
        enough = np.asarray(smaller_arm, dtype=np.float64) >= self.min_samples
        inverse_ratio, half = self.statistics(effect, variance, pooled)
        effect = np.asarray(effect, dtype=np.float64)
        p_value = np.where(enough, np.minimum(previous_p, inverse_ratio), previous_p)
        half = np.where(enough, half, np.inf)
        low, high = effect - half, effect + half
        margin = self.equivalence * np.abs(np.asarray(control_mean, dtype=np.float64))
        winner = enough & (p_value <= self.alpha)
        no_difference = enough & ~winner & (-margin < low) & (high < margin)
        return Looks(p_value, low, high, winner, no_difference)

    def decide(
        self,
        metric: str,
        control: ArmSummary,
        treatment: ArmSummary,
        *,
        previous_p: float = 1.0,
        higher_is_better: bool = True,
    ) -> ABDecision:
        """Return the decision now (`rule` on this one look); `previous_p` is the p-value of
        the last look."""
        effect = treatment.mean - control.mean
        relative = effect / control.mean if control.mean else 0.0
        n = control.n + treatment.n
        variance = (
            control.variance / control.n + treatment.variance / treatment.n
            if min(control.n, treatment.n) > 0
            else 0.0
        )
        pooled = (control.mean * control.n + treatment.mean * treatment.n) / n if n else 0.0
        look = self.rule(
            effect, variance, pooled, control.mean, min(control.n, treatment.n), previous_p
        )
        outcome: Outcome = "keep running"
        winner = None
        if bool(look.winner):
            outcome = "winner"
            better = (effect > 0) == higher_is_better
            winner = treatment.name if better else control.name
        elif bool(look.no_difference):
            outcome = "no difference"
        return ABDecision(
            metric,
            control.name,
            treatment.name,
            effect,
            relative,
            float(look.low),
            float(look.high),
            float(look.p_value),
            outcome,
            winner,
            control.n,
            treatment.n,
        )

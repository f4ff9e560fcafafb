"""The checks a candidate must pass: the offline gate on held-out labels before it sees
live traffic, and the guardrails against the production arm while it challenges."""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.evaluator.loop.signals import ArmSignal
from shared.contracts.events import ModelRegistered

__all__ = ["GateResult", "Guardrails", "offline_gate"]

# A p99 of a few milliseconds is noise (a pause of the process, a busy core): ratios are
# taken against at least this, so only a slowness users could notice breaches.
_LATENCY_FLOOR_MS = 10.0


@dataclass(frozen=True)
class GateResult:
    """Whether a candidate passed the offline gate, why, and the numbers behind it."""

    passed: bool
    reason: str
    figures: dict[str, float]


def _f(value: float | None) -> str:
    return "?" if value is None else f"{value:.3f}"


def offline_gate(registration: ModelRegistered, margin: float) -> GateResult:
    """Pass the candidate unless its macro-F1 is surely worse than production's by more than
    `margin`: the bootstrap interval of the difference on the newest held-out labels (the
    trainer's `macro_f1_delta_low`/`_high`) lies wholly below `-margin`. A point estimate
    would reject good candidates on small holdouts; the live test decides the rest."""
    m = registration.metrics
    figures = {name: float(value) for name, value in m.items()} | {"offline_margin": margin}
    if registration.version is None or not registration.admitted:
        refusal = registration.refusal or "no reason given"
        return GateResult(False, f"no admitted model: {refusal}", figures)
    candidate, production = m.get("candidate_macro_f1"), m.get("production_macro_f1")
    low, high = m.get("macro_f1_delta_low"), m.get("macro_f1_delta_high")
    held_out = int(m.get("holdout_n", 0))
    if production is None or low is None or high is None:
        return GateResult(
            True,
            f"no production version to compare with (macro-F1 {_f(candidate)} on "
            f"{held_out} held-out labels)",
            figures,
        )
    delta = m.get("macro_f1_delta", (candidate or 0.0) - production)
    text = (
        f"macro-F1 {_f(candidate)} vs production {_f(production)} on {held_out} held-out "
        f"labels: difference {delta:+.3f}, bootstrap interval [{low:+.3f}, {high:+.3f}]"
    )
    if high < -margin:
        return GateResult(False, f"{text}, worse beyond the margin {margin:g}", figures)
    return GateResult(True, f"{text}, not worse beyond the margin {margin:g}", figures)


@dataclass(frozen=True)
class Guardrails:
    """Limits on the challenger relative to the production arm over the same period."""

    latency_p99_ratio: float = 1.5
    latency_min_excess_ms: float = 50.0
    error_rate_margin: float = 0.02
    cost_ratio: float = 1.5
    min_predictions: int = 50

    def breach(
        self, production: ArmSignal, challenger: ArmSignal
    ) -> tuple[str | None, dict[str, float]]:
        """Return why the challenger breaches a guardrail (None: it holds) and the ratios;
        nothing is judged before both arms have `min_predictions`."""
        figures: dict[str, float] = {}
        if min(production.predictions, challenger.predictions) < self.min_predictions:
            return None, figures
        broken: list[str] = []
        slower = self._slower(production, challenger, figures)
        if slower is not None:
            broken.append(slower)
        excess = challenger.fallback_rate - production.fallback_rate
        figures["fallback_rate_excess"] = excess
        if excess > self.error_rate_margin:
            broken.append(
                f"fallback rate {challenger.fallback_rate:.1%} vs production's "
                f"{production.fallback_rate:.1%} (limit +{self.error_rate_margin:.1%})"
            )
        spent, base_cost = challenger.cost_per_prediction, production.cost_per_prediction
        if spent > 0:
            ratio = spent / base_cost if base_cost > 0 else math.inf
            if math.isfinite(ratio):
                figures["cost_ratio"] = ratio
            if ratio > self.cost_ratio:
                broken.append(
                    f"cost per request ${spent:.6f} vs production's ${base_cost:.6f} "
                    f"(limit {self.cost_ratio:g}x)"
                )
        return ("; ".join(broken) or None), figures

    def _slower(
        self, production: ArmSignal, challenger: ArmSignal, figures: dict[str, float]
    ) -> str | None:
        """Compare the arms' p99 serving times (their own blocks' time in inference: a wait
        in the queue behind a slow arm's requests falls on both arms alike, so end-to-end
        latency under-states a slow arm), or end-to-end latency where no serving time was
        recorded; add the figures; return the breach, if any."""
        measures = (
            ("serving", "serving time", production.serving_p99_ms, challenger.serving_p99_ms),
            ("latency", "latency", production.latency_p99_ms, challenger.latency_p99_ms),
        )
        for what, named, base_ms, candidate_ms in measures:
            if not base_ms or not candidate_ms:
                continue
            ratio = candidate_ms / max(base_ms, _LATENCY_FLOOR_MS)
            figures |= {
                f"{what}_p99_ratio": ratio,
                f"production_{what}_p99_ms": base_ms,
                f"challenger_{what}_p99_ms": candidate_ms,
            }
            # Both: a p99 over a few dozen answers is nearly their maximum, and one pause
            # of a busy process makes a fast arm look 1.5x slower by a few milliseconds.
            excess_ms = candidate_ms - base_ms
            if ratio > self.latency_p99_ratio and excess_ms > self.latency_min_excess_ms:
                return (
                    f"p99 {named} {candidate_ms:.0f} ms is {ratio:.2f}x production's "
                    f"{base_ms:.0f} ms (limit {self.latency_p99_ratio:g}x and "
                    f"+{self.latency_min_excess_ms:g} ms)"
                )
            return None
        return None

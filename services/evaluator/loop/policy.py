"""The loop's policy: from a model's state and what was observed, the steps to take now.

Pure: dataclasses in, `LoopDecision`s out, no I/O (`services.evaluator.loop.act` carries
them out). One candidate is in flight per model at a time:

idle --trigger--> training --registered, gate passes--> shadowing --K labelled shadow
answers--> challenging (share steps up while the guardrails hold) --A/B verdict--> promoted
or archived; a guardrail breach rolls it back; a gate failure rejects it offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.evaluator.config import EvaluatorSettings
from services.evaluator.loop.gates import Guardrails, offline_gate
from services.evaluator.loop.signals import ArmSignal, Observations, Verdict
from services.evaluator.loop.state import LoopState
from shared.contracts.events import LoopDecision, LoopStep, ModelRegistered

__all__ = ["LOOP_TENANT", "LoopPolicy"]

# The loop's decisions are about platform-wide models and experiments.
LOOP_TENANT = "platform"
_SEVERE = ("medium", "high")
_TRIGGER_SIGNALS = ("query_embeddings", "labels")


@dataclass(frozen=True)
class LoopPolicy:
    """When to train, when a candidate moves on, and when it is promoted or dropped."""

    new_labels: int = 500
    retrain_min_labels: int = 50
    accuracy_drop: float = 0.05
    offline_margin: float = 0.02
    shadow_labels: int = 200
    challenger_steps: tuple[float, ...] = (0.1, 0.5)
    step_min_labels: int = 200
    max_labels: int = 5000
    cooldown_s: float = 3600.0
    training_timeout_s: float = 1800.0
    guardrails: Guardrails = field(default_factory=Guardrails)

    @classmethod
    def from_settings(cls, settings: EvaluatorSettings) -> LoopPolicy:
        """Return the policy the `loop_*` settings describe."""
        return cls(
            new_labels=settings.loop_new_labels,
            retrain_min_labels=settings.loop_retrain_min_labels,
            accuracy_drop=settings.loop_accuracy_drop,
            offline_margin=settings.loop_offline_margin,
            shadow_labels=settings.loop_shadow_labels,
            challenger_steps=tuple(settings.loop_challenger_steps),
            step_min_labels=settings.loop_step_min_labels,
            max_labels=settings.loop_max_labels,
            cooldown_s=settings.loop_cooldown_s,
            training_timeout_s=settings.loop_training_timeout_s,
            guardrails=Guardrails(
                latency_p99_ratio=settings.loop_latency_p99_ratio,
                latency_min_excess_ms=settings.loop_latency_min_excess_ms,
                error_rate_margin=settings.loop_error_rate_margin,
                cost_ratio=settings.loop_cost_ratio,
                min_predictions=settings.loop_guardrail_min_predictions,
            ),
        )

    def decide(self, state: LoopState, seen: Observations) -> list[LoopDecision]:
        """Return the steps to take now, in order (none: wait). Registrations are dealt
        with first; the phase's own step waits for the next round."""
        decisions: list[LoopDecision] = []
        for registration in seen.registrations:
            for decision in self._registered(state, registration, seen):
                decisions.append(decision)
                state = state.after(decision)
        if decisions:
            return decisions
        if state.phase == "idle":
            return self._idle(state, seen)
        if state.phase == "training":
            return self._training(state, seen)
        if state.phase == "shadowing":
            return self._shadowing(state, seen)
        return self._challenging(state, seen)

    def _decision(
        self,
        state: LoopState,
        seen: Observations,
        step: LoopStep,
        reason: str,
        *,
        candidate: int | None,
        figures: dict[str, float] | None = None,
        verdict: Verdict | None = None,
    ) -> LoopDecision:
        return LoopDecision(
            tenant=LOOP_TENANT,
            occurred_at=seen.now,
            model=state.model,
            step=step,
            candidate_version=candidate,
            production_version=seen.production_version,
            reason=reason,
            figures=(figures or {}) | (_verdict_figures(verdict) if verdict else {}),
            evaluation_id=verdict.evaluation_id if verdict else None,
        )

    def _registered(
        self, state: LoopState, registration: ModelRegistered, seen: Observations
    ) -> list[LoopDecision]:
        """Adopt a new candidate when none is in flight (the loop's own training or one
        asked for by hand) and gate it; archive one that comes while another is out."""
        version = registration.version
        if registration.stage != "candidate":
            return []  # registered straight to another stage: not the loop's to judge
        if state.phase in ("shadowing", "challenging"):
            if version is None:
                return []
            return [
                self._decision(
                    state,
                    seen,
                    "archived",
                    f"v{version} registered while v{state.candidate} is in flight "
                    "(one candidate at a time)",
                    candidate=version,
                )
            ]
        gate = offline_gate(registration, self.offline_margin)
        trained = self._decision(
            state,
            seen,
            "trained",
            f"v{version} registered from {registration.training_data or 'unrecorded data'}",
            candidate=version,
            figures={k: float(v) for k, v in registration.metrics.items()},
        )
        step: LoopStep = "shadowing" if gate.passed else "rejected_offline"
        ends = self._decision(
            state, seen, step, gate.reason, candidate=version, figures=gate.figures
        )
        return [trained, ends] if version is not None else [ends]

    def _idle(self, state: LoopState, seen: Observations) -> list[LoopDecision]:
        if state.cooling_down(seen.now, self.cooldown_s):
            return []
        found = self._trigger(seen)
        if found is None:
            return []
        reason, figures = found
        return [self._decision(state, seen, "triggered", reason, candidate=None, figures=figures)]

    def _trigger(self, seen: Observations) -> tuple[str, dict[str, float]] | None:
        """Return why to train now (new labels, drift, an accuracy fall), if anything says so."""
        figures = {"new_labels": float(seen.new_labels)}
        if seen.new_labels >= self.new_labels:
            return f"{seen.new_labels} new labels since the last training", figures
        if seen.new_labels < self.retrain_min_labels:
            return None  # the same labels would train the same model
        for drift in seen.drift:
            if drift.signal in _TRIGGER_SIGNALS and drift.severity in _SEVERE:
                figures |= {"drift_statistic": drift.statistic}
                return f"{drift.severity} drift of the {drift.signal.replace('_', ' ')}", figures
        window, overall = seen.production_window, seen.production_cumulative
        if (
            window is not None
            and overall is not None
            and window.accuracy is not None
            and overall.accuracy is not None
            and window.labelled >= self.retrain_min_labels
            and window.accuracy < overall.accuracy - self.accuracy_drop
        ):
            figures |= {"window_accuracy": window.accuracy, "accuracy": overall.accuracy}
            return (
                f"production accuracy fell to {window.accuracy:.3f} in the window from "
                f"{overall.accuracy:.3f} overall",
                figures,
            )
        return None

    def _training(self, state: LoopState, seen: Observations) -> list[LoopDecision]:
        if (
            state.since is None
            or (seen.now - state.since).total_seconds() < self.training_timeout_s
        ):
            return []
        reason = f"no model registered within {self.training_timeout_s:g} s of the request"
        return [self._decision(state, seen, "archived", reason, candidate=state.candidate)]

    def _shadowing(self, state: LoopState, seen: Observations) -> list[LoopDecision]:
        shadow = seen.shadow
        if shadow is None or shadow.labelled < self.shadow_labels:
            return []
        return [self._step(state, seen, 0, shadow, f"{shadow.labelled} labelled shadow answers")]

    def _step(
        self, state: LoopState, seen: Observations, step: int, arm: ArmSignal, why: str
    ) -> LoopDecision:
        share = self.challenger_steps[step]
        figures = {
            "step": float(step),
            "share": share,
            "challenger_labelled": float(arm.labelled if step else 0),
        }
        if arm.accuracy is not None:
            figures["candidate_accuracy"] = arm.accuracy
        reason = f"{why}: challenger takes {share:.0%} of the production arm's traffic"
        return self._decision(
            state, seen, "challenging", reason, candidate=state.candidate, figures=figures
        )

    def _challenging(self, state: LoopState, seen: Observations) -> list[LoopDecision]:
        production, challenger = seen.production_now, seen.challenger
        if production is None or challenger is None:
            return []
        figures = _arm_figures(production, challenger)
        breach, ratios = self.guardrails.breach(production, challenger)
        if breach is not None:
            return [self._end(state, seen, "rolled_back", breach, figures | ratios, None)]
        figures |= ratios
        accuracy, business = seen.accuracy, seen.business
        if business is not None and business.challenger_loses:
            why = f"loses on {business.verdict.metric}"
            return [self._end(state, seen, "archived", why, figures, business)]
        if accuracy is not None and accuracy.challenger_loses:
            return [self._end(state, seen, "archived", "loses on accuracy", figures, accuracy)]
        if accuracy is not None and accuracy.challenger_wins:
            if state.cooling_down(seen.now, self.cooldown_s):
                return []  # a winner waits out the cooldown since the last promotion
            return [self._end(state, seen, "promoted", "wins on accuracy", figures, accuracy)]
        if accuracy is not None and accuracy.verdict.decision == "no difference":
            why = "no difference in accuracy (the interval lies within the equivalence margin)"
            return [self._end(state, seen, "archived", why, figures, accuracy)]
        if challenger.labelled >= self.max_labels:
            why = f"no difference after {challenger.labelled} labelled answers (the maximum)"
            return [self._end(state, seen, "archived", why, figures, accuracy)]
        next_step = state.step + 1
        checked = min(production.predictions, challenger.predictions)
        if (
            next_step < len(self.challenger_steps)
            and challenger.labelled - state.step_labelled >= self.step_min_labels
            and checked >= self.guardrails.min_predictions  # "held" means they were checked
        ):
            why = f"guardrails held over {challenger.labelled - state.step_labelled} labels"
            return [self._step(state, seen, next_step, challenger, why)]
        return []

    def _end(
        self,
        state: LoopState,
        seen: Observations,
        step: LoopStep,
        why: str,
        figures: dict[str, float],
        verdict: Verdict | None,
    ) -> LoopDecision:
        reason = f"v{state.candidate} {why}"
        return self._decision(
            state, seen, step, reason, candidate=state.candidate, figures=figures, verdict=verdict
        )


def _arm_figures(production: ArmSignal, challenger: ArmSignal) -> dict[str, float]:
    figures = {
        "production_predictions": float(production.predictions),
        "challenger_predictions": float(challenger.predictions),
        "production_labelled": float(production.labelled),
        "challenger_labelled": float(challenger.labelled),
    }
    if production.accuracy is not None:
        figures["production_accuracy"] = production.accuracy
    if challenger.accuracy is not None:
        figures["challenger_accuracy"] = challenger.accuracy
    return figures


def _verdict_figures(verdict: Verdict) -> dict[str, float]:
    v = verdict.verdict
    figures = {"p_value": v.p_value, "effect": v.effect, "relative_effect": v.relative_effect}
    if v.ci_low is not None:
        figures["ci_low"] = v.ci_low
    if v.ci_high is not None:
        figures["ci_high"] = v.ci_high
    return figures

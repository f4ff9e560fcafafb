"""What the loop observes for a model: new labels, drift, the production arm's accuracy,
the candidate's shadow and challenger arms, the A/B verdicts between the arms, and the
registrations that came in."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from services.evaluator.config import LoopModel
from services.evaluator.loop.arms import challenger_arm, shadow_arm
from services.evaluator.loop.ports import LoopPorts
from services.evaluator.loop.signals import ArmSignal, Observations, Verdict
from services.evaluator.loop.state import LoopState
from services.evaluator.ports import ArmSample, ScoreBook
from services.evaluator.reporting import AB_METRICS, verdict_of
from services.evaluator.sequential import SequentialTest

__all__ = ["FEEDBACK", "arm_sample", "loop_verdict", "observe"]

# The dataset of labels the platform collected (TrainingRequested.dataset).
FEEDBACK = "feedback"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def arm_sample(samples: Sequence[ArmSample], experiment: str, arm: str) -> ArmSample | None:
    """Return the sums of `experiment`'s arm called `arm`, if it answered anything."""
    return next((s for s in samples if (s.experiment, s.variant) == (experiment, arm)), None)


def _signal(samples: Sequence[ArmSample], experiment: str, arm: str) -> ArmSignal | None:
    found = arm_sample(samples, experiment, arm)
    return ArmSignal.of(found) if found else None


async def loop_verdict(
    metric: str,
    experiment: str,
    production: ArmSample,
    challenger: ArmSample,
    *,
    test: SequentialTest,
    book: ScoreBook,
) -> Verdict:
    """Return the challenger's always-valid verdict against production on `metric`, decided
    exactly as the reports' A/B decisions are (the same test, the same summaries); its
    p-value persists under `loop:<metric>` since it covers the challenge's period only."""
    summarise, higher_is_better = AB_METRICS[metric]
    key = f"loop:{metric}"
    previous = await book.previous_p(experiment, key, production.variant, challenger.variant)
    decision = test.decide(
        metric,
        summarise(production),
        summarise(challenger),
        previous_p=previous,
        higher_is_better=higher_is_better,
    )
    await book.save_p(experiment, key, production.variant, challenger.variant, decision.p_value)
    return Verdict(verdict_of(decision), evaluation_id=uuid.uuid4())


async def observe(
    model: LoopModel,
    state: LoopState,
    *,
    now: datetime,
    ports: LoopPorts,
    book: ScoreBook,
    test: SequentialTest,
    window_s: float,
    business_metric: str | None = None,
) -> Observations:
    """Return what the policy needs for `model` in its phase (the rest is left empty)."""
    since_training = state.last_training or _EPOCH
    seen = Observations(
        now=now,
        production_version=await ports.stages.production_version(model.name),
        new_labels=await ports.labels.count_since(model.tenant, FEEDBACK, state.last_training),
        registrations=tuple(await ports.journal.registrations(model.name)),
    )
    experiment, candidate = model.experiment, state.candidate
    if state.phase == "idle":
        window_start = now - timedelta(seconds=window_s)
        drift = await book.recent_drift(experiment, max(since_training, window_start))
        return dataclasses.replace(
            seen,
            drift=tuple(drift),
            production_window=_signal(
                await book.arm_samples(window_start), experiment, model.production_arm
            ),
            production_cumulative=_signal(
                await book.arm_samples(None), experiment, model.production_arm
            ),
        )
    if candidate is None or state.since is None:
        return seen
    if state.phase == "shadowing":
        samples = await book.arm_samples(state.since)
        return dataclasses.replace(seen, shadow=_signal(samples, experiment, shadow_arm(candidate)))
    if state.phase != "challenging":
        return seen
    samples = await book.arm_samples(state.since)
    production = arm_sample(samples, experiment, model.production_arm)
    challenger = arm_sample(samples, experiment, challenger_arm(candidate))
    if production is None or challenger is None:
        return seen
    verdicts = [
        await loop_verdict(metric, experiment, production, challenger, test=test, book=book)
        for metric in ("accuracy", business_metric)
        if metric is not None
    ]
    return dataclasses.replace(
        seen,
        production_now=ArmSignal.of(production),
        challenger=ArmSignal.of(challenger),
        accuracy=verdicts[0],
        business=verdicts[1] if len(verdicts) > 1 else None,
    )

"""What the loop decides on: arms as it reads them, the A/B verdicts, labels, drift and
registrations, gathered for one model at one moment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.evaluator.ports import ArmSample
from shared.contracts.events import ABVerdict, DriftReport, ModelRegistered

__all__ = ["ArmSignal", "Observations", "Verdict"]


@dataclass(frozen=True)
class ArmSignal:
    """One arm over a window: how much it answered, how often right, how fast, how dear."""

    name: str
    predictions: int = 0
    labelled: int = 0
    accuracy: float | None = None
    latency_p99_ms: float | None = None
    serving_p99_ms: float | None = None
    cost_per_prediction: float = 0.0
    fallback_rate: float = 0.0

    @classmethod
    def of(cls, sample: ArmSample) -> ArmSignal:
        """Return what the loop reads of an arm's sums."""
        n = sample.predictions
        labelled = sum(sample.label_pairs.values())
        correct = sum(c for (truth, answer), c in sample.label_pairs.items() if truth == answer)
        return cls(
            name=sample.variant,
            predictions=n,
            labelled=labelled,
            accuracy=correct / labelled if labelled else None,
            latency_p99_ms=sample.latency_p99_ms,
            serving_p99_ms=sample.serving_p99_ms,
            cost_per_prediction=sample.cost_usd / n if n else 0.0,
            fallback_rate=sample.fallbacks / n if n else 0.0,
        )


@dataclass(frozen=True)
class Verdict:
    """An always-valid A/B verdict (production: control, challenger: treatment) and the id
    of the evaluation that publishes it, should the loop act on it."""

    verdict: ABVerdict
    evaluation_id: uuid.UUID

    @property
    def challenger_wins(self) -> bool:
        """Whether the test named the challenger the winner."""
        return self.verdict.decision == "winner" and self.verdict.winner == self.verdict.treatment

    @property
    def challenger_loses(self) -> bool:
        """Whether the test named production the winner."""
        return self.verdict.decision == "winner" and self.verdict.winner == self.verdict.control


@dataclass(frozen=True)
class Observations:
    """Everything the policy looks at for one model, now.

    The production arm is read over the sliding window and cumulatively (for the accuracy
    trigger) and since the challenger started (against it); the shadow arm since shadowing
    began; the verdicts compare production and challenger since the challenge began.
    """

    now: datetime
    production_version: int | None = None
    new_labels: int = 0
    drift: tuple[DriftReport, ...] = ()
    production_window: ArmSignal | None = None
    production_cumulative: ArmSignal | None = None
    shadow: ArmSignal | None = None
    production_now: ArmSignal | None = None
    challenger: ArmSignal | None = None
    accuracy: Verdict | None = None
    business: Verdict | None = None
    registrations: tuple[ModelRegistered, ...] = ()

"""Fakes at the evaluator's ports: a whole score book in memory, and a fixed leadership
(the loop's are in `loop_fakes`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from services.evaluator.ports import ArmSample, OutcomeRecord, PredictionScore
from shared.contracts.events import DriftReport, Evaluation
from tests.fakes import InMemoryScoreBook

__all__ = ["FixedLeadership", "FullScoreBook"]


@dataclass
class FullScoreBook(InMemoryScoreBook):
    """A ScoreBook in memory: scores (from InMemoryScoreBook), outcomes, queries, reports;
    the arms a report reads are given."""

    outcomes: dict[tuple[str, str], OutcomeRecord] = field(default_factory=dict)
    queries: dict[tuple[str, str], tuple[str, datetime, list[float]]] = field(default_factory=dict)
    arms: list[ArmSample] = field(default_factory=list)
    p_values: dict[tuple[str, str, str, str], float] = field(default_factory=dict)
    reports: list[list[Evaluation]] = field(default_factory=list)
    shadows: dict[tuple[str, str, str], PredictionScore] = field(default_factory=dict)
    drift: list[DriftReport] = field(default_factory=list)
    arms_since: dict[datetime | None, list[ArmSample]] = field(default_factory=dict)

    async def record_shadow(self, score: PredictionScore) -> bool:
        key = (score.tenant, score.request_id, score.variant)
        new = key not in self.shadows
        self.shadows.setdefault(key, score)
        return new

    async def record_outcome(self, outcome: OutcomeRecord) -> bool:
        key = (outcome.tenant, outcome.feedback_id)
        new = key not in self.outcomes
        self.outcomes.setdefault(key, outcome)
        return new

    async def arm_samples(self, since: datetime | None) -> list[ArmSample]:
        """The arms given for exactly `since`, else every arm given."""
        return list(self.arms_since.get(since, self.arms))

    async def previous_p(self, experiment: str, metric: str, control: str, arm: str) -> float:
        return self.p_values.get((experiment, metric, control, arm), 1.0)

    async def save_p(self, experiment: str, metric: str, control: str, arm: str, p: float) -> None:
        key = (experiment, metric, control, arm)
        self.p_values[key] = min(p, self.p_values.get(key, 1.0))

    async def record_query(
        self,
        tenant: str,
        request_id: str,
        experiment: str,
        occurred_at: datetime,
        vector: Sequence[float],
    ) -> None:
        self.queries.setdefault((tenant, request_id), (experiment, occurred_at, list(vector)))

    async def query_vectors(
        self, experiment: str, since: datetime, until: datetime, limit: int
    ) -> npt.NDArray[np.float64]:
        return np.empty((0, 0))

    async def category_counts(
        self, experiment: str, what: str, since: datetime, until: datetime
    ) -> dict[str, int]:
        return {}

    async def save_report(self, evaluations: Sequence[Evaluation]) -> None:
        self.reports.append(list(evaluations))

    async def recent_drift(self, experiment: str, since: datetime) -> list[DriftReport]:
        return list(self.drift)


@dataclass
class FixedLeadership:
    """Leads, or not, as told; counts how often it was asked."""

    leads: bool = True
    asked: int = 0

    async def leading(self) -> bool:
        self.asked += 1
        return self.leads

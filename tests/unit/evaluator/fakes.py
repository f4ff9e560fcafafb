"""Fakes at the evaluator's ports: a whole score book in memory, and a fixed leadership."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from services.evaluator.ports import ArmSample, OutcomeRecord
from shared.contracts.events import Evaluation
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

    async def record_outcome(self, outcome: OutcomeRecord) -> bool:
        key = (outcome.tenant, outcome.feedback_id)
        new = key not in self.outcomes
        self.outcomes.setdefault(key, outcome)
        return new

    async def arm_samples(self, since: datetime | None) -> list[ArmSample]:
        return list(self.arms)

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


@dataclass
class FixedLeadership:
    """Leads, or not, as told; counts how often it was asked."""

    leads: bool = True
    asked: int = 0

    async def leading(self) -> bool:
        self.asked += 1
        return self.leads

"""What the evaluator handlers need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from shared.contracts.events import DriftReport, Evaluation, Prediction

if TYPE_CHECKING:
    from services.evaluator.judge import Judgement

__all__ = [
    "ArmSample",
    "Judge",
    "Leadership",
    "OutcomeRecord",
    "PredictionScore",
    "ScoreBook",
    "VariantTotals",
]


@dataclass(frozen=True)
class PredictionScore:
    """The scores of one prediction, as the evaluator records them."""

    tenant: str
    request_id: str
    experiment: str
    variant: str
    retrieval_relevance: float
    top_score: float
    groundedness: float | None = None
    judge_score: float | None = None
    latency_ms: float = 0.0
    serving_ms: float = 0.0  # the arm's own blocks' time in inference (no queueing)
    cost_usd: float = 0.0
    answer: str = ""
    occurred_at: datetime | None = None
    fallback: bool = False  # a block failed and the answer came from its fallback


@dataclass(frozen=True)
class VariantTotals:
    """An arm's running totals."""

    predictions: int
    mean_relevance: float


@dataclass(frozen=True)
class OutcomeRecord:
    """One piece of feedback joined to its prediction, as the evaluator counts it."""

    tenant: str
    feedback_id: str
    request_id: str
    experiment: str
    variant: str
    kind: str
    value_number: float | None
    value_text: str | None
    verdict: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class ArmSample:
    """What the store sums for one arm over a window (outcomes count by prediction time;
    a shadow arm's only outcomes are the true labels of the requests it answered)."""

    experiment: str
    variant: str
    predictions: int
    relevance_sum: float = 0.0
    relevance_squares: float = 0.0
    groundedness_sum: float = 0.0
    groundedness_count: int = 0
    judge_sum: float = 0.0
    judge_count: int = 0
    latency_sum: float = 0.0
    latency_squares: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    serving_p99_ms: float | None = None
    cost_usd: float = 0.0
    clicked: int = 0
    converted: int = 0
    ratings: int = 0
    rating_sum: float = 0.0
    rating_squares: float = 0.0
    ratings_high: int = 0
    thumbs: int = 0
    thumbs_up: int = 0
    reviews: int = 0
    reviews_correct: int = 0
    label_pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    fallbacks: int = 0
    shadow: bool = False  # a shadow arm: answers recorded, never shown (labels only apply)


class ScoreBook(Protocol):
    """Per-prediction scores, outcomes and what reports need; each records once."""

    async def record(self, score: PredictionScore) -> VariantTotals:
        """Store `score` if new and return its arm's totals."""
        ...

    async def record_shadow(self, score: PredictionScore) -> bool:
        """Store a shadow arm's score once per (request, arm); return whether it was new."""
        ...

    async def record_outcome(self, outcome: OutcomeRecord) -> bool:
        """Store an outcome once per feedback id; return whether it was new."""
        ...

    async def arm_samples(self, since: datetime | None) -> list[ArmSample]:
        """Return every arm's sums over predictions made since `since` (None: all)."""
        ...

    async def previous_p(self, experiment: str, metric: str, control: str, arm: str) -> float:
        """Return the lowest p-value an A/B comparison has had (1 when never tested)."""
        ...

    async def save_p(self, experiment: str, metric: str, control: str, arm: str, p: float) -> None:
        """Remember a comparison's p-value (the lowest so far is kept)."""
        ...

    async def record_query(
        self,
        tenant: str,
        request_id: str,
        experiment: str,
        occurred_at: datetime,
        vector: Sequence[float],
    ) -> None:
        """Keep a request's query embedding (once), for drift."""
        ...

    async def query_vectors(
        self, experiment: str, since: datetime, until: datetime, limit: int
    ) -> npt.NDArray[np.float64]:
        """Return a random sample of the experiment's query embeddings in [since, until)."""
        ...

    async def category_counts(
        self, experiment: str, what: str, since: datetime, until: datetime
    ) -> dict[str, int]:
        """Return how often each answer (`what="predictions"`) or true label (`"labels"`)
        occurred for the experiment's predictions made in [since, until)."""
        ...

    async def save_report(self, evaluations: Sequence[Evaluation]) -> None:
        """Keep a report's arm metrics, verdicts and drift, for history and `pillars report`."""
        ...

    async def recent_drift(self, experiment: str, since: datetime) -> list[DriftReport]:
        """Return the drift the reports found for the experiment since `since`."""
        ...


class Judge(Protocol):
    """Rates an answer (LLM-as-judge); its own failures come back as a reason, not raised."""

    async def judge(self, prediction: Prediction) -> Judgement:
        """Return the judge's rating of the prediction's answer."""
        ...


class Leadership(Protocol):
    """Whether this replica is the one that reports (one at a time, across replicas)."""

    async def leading(self) -> bool:
        """Return whether this replica leads; once it does, it keeps leading until it stops."""
        ...

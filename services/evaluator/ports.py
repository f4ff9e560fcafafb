"""What the evaluator handlers need from the outside world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["PredictionScore", "ScoreBook", "VariantTotals"]


@dataclass(frozen=True)
class PredictionScore:
    """The scores of one prediction, as the evaluator records them."""

    tenant: str
    request_id: str
    experiment: str
    variant: str
    retrieval_relevance: float
    top_score: float


@dataclass(frozen=True)
class VariantTotals:
    """An arm's running totals."""

    predictions: int
    mean_relevance: float


class ScoreBook(Protocol):
    """Per-prediction scores and per-arm totals; recording the same prediction twice counts once."""

    async def record(self, score: PredictionScore) -> VariantTotals:
        """Store `score` if new and return its arm's totals."""
        ...

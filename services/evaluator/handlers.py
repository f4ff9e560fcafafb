"""Evaluator handlers: score each prediction and keep per-arm totals."""

from __future__ import annotations

from services.evaluator.ports import PredictionScore, ScoreBook
from shared.events import Evaluation, Prediction, derived_id

__all__ = ["SERVICE", "evaluate_prediction"]

SERVICE = "evaluator"


def retrieval_relevance(prediction: Prediction) -> float:
    """Return the mean similarity of the retrieved passages to the query (0 when none)."""
    scores = [source.score for source in prediction.sources]
    return sum(scores) / len(scores) if scores else 0.0


async def evaluate_prediction(prediction: Prediction, *, book: ScoreBook) -> Evaluation:
    """Score a prediction's retrieval and update its arm's totals."""
    score = PredictionScore(
        tenant=prediction.tenant,
        request_id=prediction.request_id,
        experiment=prediction.experiment,
        variant=prediction.variant,
        retrieval_relevance=retrieval_relevance(prediction),
        top_score=max((s.score for s in prediction.sources), default=0.0),
    )
    totals = await book.record(score)
    return Evaluation(
        event_id=derived_id(prediction.event_id, "evaluated"),
        tenant=prediction.tenant,
        request_id=prediction.request_id,
        experiment=prediction.experiment,
        variant=prediction.variant,
        retrieval_relevance=score.retrieval_relevance,
        top_score=score.top_score,
        variant_predictions=totals.predictions,
        variant_mean_relevance=totals.mean_relevance,
    )

"""A prediction scored under its EVALUATOR span, linked to the trace that predicted it."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from services.evaluator.handlers import evaluate_prediction
from services.evaluator.ports import Judge, ScoreBook
from shared.contracts.events import Evaluation, Prediction
from shared.kit.openinference import Kind, model_span, request_attributes
from shared.kit.telemetry import link_to

__all__ = ["score_prediction"]


async def score_prediction(
    prediction: Prediction,
    *,
    book: ScoreBook,
    judge: Judge | None,
    tracer: TracerProvider,
    traceparent: str | None,
) -> Evaluation | None:
    """Score `prediction` (see `evaluate_prediction`) inside an "evaluator score" span that
    links to `traceparent`, the span of the message that carried the prediction. A refused
    request's prediction (`rejected`) answered nothing, so it is not scored: None."""
    if prediction.rejected is not None:
        return None
    links = link_to(traceparent, reason="evaluation of prediction")
    attributes = request_attributes(prediction) | {"input.value": prediction.query}
    with model_span(tracer, Kind.EVALUATOR, "evaluator score", attributes, links=links) as span:
        evaluation = await evaluate_prediction(prediction, book=book, judge=judge)
        scores = {
            "pillars.retrieval_relevance": evaluation.retrieval_relevance,
            "pillars.relevance_basis": evaluation.relevance_basis,
            "pillars.top_score": evaluation.top_score,
            "pillars.groundedness": evaluation.groundedness,
            "pillars.judge_score": evaluation.judge_score,
            "pillars.judge_note": evaluation.judge_note or None,
        }
        span.set_attributes({k: v for k, v in scores.items() if v is not None})
    return evaluation

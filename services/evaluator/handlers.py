"""Evaluator handlers, one event at a time: score each prediction (and each shadow arm's),
count each outcome, keep each query's embedding.

Per prediction: retrieval relevance, groundedness and (with a judge) the judge's rating,
added to its arm's running totals. The periodic report is `services.evaluator.reporting`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from services.evaluator.ports import Judge, OutcomeRecord, PredictionScore, ScoreBook
from shared.contracts.events import (
    Evaluation,
    Outcome,
    Prediction,
    RequestEmbedded,
    RetrievedChunk,
    derived_id,
)

if TYPE_CHECKING:
    from services.evaluator.judge import Judgement

__all__ = [
    "RELEVANCE_BASIS",
    "RELEVANCE_DEPTH",
    "SERVICE",
    "evaluate_prediction",
    "fell_back",
    "groundedness",
    "prediction_score",
    "record_outcome",
    "record_query",
    "record_shadow",
    "retrieval_relevance",
    "top_score",
]

SERVICE = "evaluator"
_WORD = re.compile(r"\w+", re.UNICODE)
# How inference's blocks say they failed and fell back (services/inference/pipeline.py).
_FAILED = ("unavailable", "failed")


# Relevance is the query's cosine similarity to the first RELEVANCE_DEPTH passages, whatever
# the arm's mode (a fused or BM25 score has another scale) and its top_k (the mean over 5
# passages is lower than over 3 for the same ranking): arms compare on the same scale.
RELEVANCE_DEPTH = 3
RELEVANCE_BASIS = f"cosine@{RELEVANCE_DEPTH}"


def retrieval_relevance(prediction: Prediction) -> float:
    """Return the mean cosine similarity of the first `RELEVANCE_DEPTH` passages to the query
    (0 when none; passages without a recorded similarity are left out)."""
    scores = [c for s in prediction.sources[:RELEVANCE_DEPTH] if (c := s.cosine) is not None]
    return sum(scores) / len(scores) if scores else 0.0


def top_score(prediction: Prediction) -> float:
    """Return the best cosine similarity of a retrieved passage to the query (0 when none)."""
    return max((c for s in prediction.sources if (c := s.cosine) is not None), default=0.0)


def groundedness(answer: str, sources: Sequence[RetrievedChunk]) -> float | None:
    """Return the share of the answer's words that appear in the retrieved passages.

    1.0: every word of the answer comes from the passages (an extractive answer); low
    values flag an answer that says things the passages do not. None without an answer.
    """
    words = [w.lower() for w in _WORD.findall(answer)]
    if not words:
        return None
    known = {w.lower() for source in sources for w in _WORD.findall(source.text)}
    return sum(w in known for w in words) / len(words)


def fell_back(prediction: Prediction) -> bool:
    """Return whether a block of the prediction failed and a fallback answered instead (a
    classifier `unavailable`, a generator that `failed`): the loop's error guardrail."""
    return any(block.outcome.startswith(_FAILED) for block in prediction.blocks)


def serving_ms(prediction: Prediction) -> float:
    """Return the time the prediction's own blocks took in inference, from the first block's
    start to the last one's end (no wait in a queue behind other requests)."""
    if not prediction.blocks:
        return 0.0
    began = min(block.started_at for block in prediction.blocks)
    ended = max(block.finished_at for block in prediction.blocks)
    return max(0.0, (ended - began).total_seconds() * 1000)


def prediction_score(prediction: Prediction, judgement: Judgement | None = None) -> PredictionScore:
    """Return what the evaluator records of a prediction (a live or a shadow arm's)."""
    latency = (prediction.occurred_at - prediction.request_occurred_at).total_seconds() * 1000
    return PredictionScore(
        tenant=prediction.tenant,
        request_id=prediction.request_id,
        experiment=prediction.experiment,
        variant=prediction.variant,
        retrieval_relevance=retrieval_relevance(prediction),
        top_score=top_score(prediction),
        groundedness=groundedness(prediction.answer, prediction.sources),
        judge_score=judgement.score if judgement else None,
        latency_ms=max(0.0, latency),
        serving_ms=serving_ms(prediction),
        cost_usd=prediction.estimated_cost_usd,
        answer=prediction.answer,
        occurred_at=prediction.occurred_at,
        fallback=fell_back(prediction),
    )


async def evaluate_prediction(
    prediction: Prediction, *, book: ScoreBook, judge: Judge | None = None
) -> Evaluation:
    """Score a prediction's retrieval and answer (and, with a `judge`, have it rated),
    and update its arm's totals."""
    judgement = await judge.judge(prediction) if judge is not None else None
    score = prediction_score(prediction, judgement)
    totals = await book.record(score)
    return Evaluation(
        event_id=derived_id(prediction.event_id, "evaluated"),
        tenant=prediction.tenant,
        subject=prediction.request_id,
        request_id=prediction.request_id,
        experiment=prediction.experiment,
        variant=prediction.variant,
        retrieval_relevance=score.retrieval_relevance,
        relevance_basis=RELEVANCE_BASIS,
        top_score=score.top_score,
        groundedness=score.groundedness,
        judge_score=score.judge_score,
        judge_model=judgement.model if judgement else None,
        judge_note=judgement.reason if judgement else "",
        variant_predictions=totals.predictions,
        variant_mean_relevance=totals.mean_relevance,
    )


async def record_outcome(outcome: Outcome, *, book: ScoreBook) -> bool:
    """Count an outcome once per feedback id; return whether it was new."""
    number = outcome.value if isinstance(outcome.value, int | float) else None
    text = outcome.value if isinstance(outcome.value, str) else None
    if outcome.kind == "thumbs" and text is not None:
        number, text = (1.0 if text == "up" else 0.0), None
    if outcome.kind == "correction" and text is None:
        text = ""
    return await book.record_outcome(
        OutcomeRecord(
            tenant=outcome.tenant,
            feedback_id=outcome.feedback_id,
            request_id=outcome.request_id,
            experiment=outcome.experiment,
            variant=outcome.variant,
            kind=outcome.kind,
            value_number=number,
            value_text=text,
            verdict=outcome.review.verdict if outcome.review else None,
            occurred_at=outcome.occurred_at,
        )
    )


async def record_shadow(prediction: Prediction, *, book: ScoreBook) -> bool:
    """Record a shadow arm's answer (never shown, never judged): against the request's true
    label it gives the shadow arm's accuracy, which the loop waits for before challenging."""
    return await book.record_shadow(prediction_score(prediction))


async def record_query(event: RequestEmbedded, *, book: ScoreBook) -> None:
    """Keep the query's embedding: drift compares this window's queries to the last."""
    await book.record_query(
        event.tenant,
        event.request_id,
        event.experiment,
        event.request_occurred_at,
        event.query_vector,
    )

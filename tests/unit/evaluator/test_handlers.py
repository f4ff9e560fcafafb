import uuid

import pytest

from services.evaluator.handlers import evaluate_prediction
from shared.contracts.events import ModelRef, Prediction, RetrievedChunk, utcnow
from tests.fakes import InMemoryScoreBook

MODEL = ModelRef(name="m", version="1")


def prediction(request_id: str, scores: list[float], variant: str = "a") -> Prediction:
    return Prediction(
        tenant="acme",
        request_id=request_id,
        query="q",
        experiment="e",
        variant=variant,
        answer="x",
        sources=[
            RetrievedChunk(chunk_id=uuid.uuid4(), document_id="d", text="t", score=s)
            for s in scores
        ],
        model=MODEL,
        embedding_model=MODEL,
        request_occurred_at=utcnow(),
        stages=[],
    )


async def test_relevance_and_per_arm_totals() -> None:
    book = InMemoryScoreBook()
    first = await evaluate_prediction(prediction("r1", [0.8, 0.4]), book=book)
    second = await evaluate_prediction(prediction("r2", [0.2]), book=book)
    other = await evaluate_prediction(prediction("r3", [0.9], variant="b"), book=book)
    assert abs(first.retrieval_relevance - 0.6) < 1e-9
    assert first.top_score == 0.8
    assert second.variant_predictions == 2
    assert abs(second.variant_mean_relevance - 0.4) < 1e-9
    assert other.variant_predictions == 1


async def test_replayed_prediction_counts_once() -> None:
    book = InMemoryScoreBook()
    p = prediction("r1", [0.5])
    await evaluate_prediction(p, book=book)
    again = await evaluate_prediction(p, book=book)
    assert again.variant_predictions == 1


async def test_no_sources_scores_zero() -> None:
    evaluation = await evaluate_prediction(prediction("r1", []), book=InMemoryScoreBook())
    assert evaluation.retrieval_relevance == 0.0
    assert evaluation.top_score == 0.0


async def test_a_shadow_answer_is_recorded_per_arm_once_and_a_fallback_is_noticed() -> None:
    from datetime import timedelta

    from services.evaluator.handlers import fell_back, record_shadow
    from shared.contracts.events import BlockRun
    from tests.unit.evaluator.fakes import FullScoreBook

    book = FullScoreBook()
    shadow = prediction("r1", [0.5], variant="shadow-v2").model_copy(update={"shadow": True})
    assert await record_shadow(shadow, book=book)
    assert not await record_shadow(shadow, book=book)
    assert await record_shadow(shadow.model_copy(update={"variant": "shadow-v3"}), book=book)
    assert sorted(book.shadows) == [("acme", "r1", "shadow-v2"), ("acme", "r1", "shadow-v3")]
    assert book.scores == {}  # the live arm's record of the request is not touched
    at = utcnow()
    failed = BlockRun(
        block="classifier",
        started_at=at,
        finished_at=at + timedelta(milliseconds=1),
        outcome="unavailable: no model",
    )
    assert fell_back(shadow.model_copy(update={"blocks": [failed]}))
    assert not fell_back(shadow)


def test_the_serving_time_runs_from_the_first_block_to_the_last() -> None:
    from datetime import timedelta

    from services.evaluator.handlers import prediction_score
    from shared.contracts.events import BlockRun

    at = utcnow()
    blocks = [
        BlockRun(block="retriever", started_at=at, finished_at=at + timedelta(milliseconds=4)),
        BlockRun(
            block="classifier",
            started_at=at + timedelta(milliseconds=5),
            finished_at=at + timedelta(milliseconds=305),
        ),
    ]
    answered = prediction("r1", [0.5]).model_copy(update={"blocks": blocks})
    assert prediction_score(answered).serving_ms == pytest.approx(305.0)
    assert prediction_score(prediction("r1", [0.5])).serving_ms == 0.0


async def test_relevance_compares_arms_of_any_mode_and_depth_on_cosine_at_3() -> None:
    """A dense arm's scores are cosines, a hybrid arm's are fused RRF scores (~0.03): the
    metric reads each passage's cosine similarity, over the first 3 whatever the top_k."""
    cosines = [0.7, 0.6, 0.5, 0.1, 0.1]
    dense = prediction("r1", cosines, variant="dense")
    hybrid = prediction("r2", [], variant="hybrid")
    hybrid.sources.extend(
        RetrievedChunk(
            chunk_id=uuid.uuid4(),
            document_id="d",
            text="t",
            score=1 / (61 + i),
            mode="hybrid",
            similarity=cosine,
            fused_score=1 / (61 + i),
        )
        for i, cosine in enumerate(cosines[:3])
    )
    book = InMemoryScoreBook()
    scored = [await evaluate_prediction(p, book=book) for p in (dense, hybrid)]
    assert [e.retrieval_relevance for e in scored] == pytest.approx([0.6, 0.6])
    assert [e.top_score for e in scored] == [0.7, 0.7]
    assert {e.relevance_basis for e in scored} == {"cosine@3"}


async def test_a_lexical_passage_without_a_cosine_is_left_out_not_read_as_one() -> None:
    p = prediction("r1", [])
    p.sources.append(
        RetrievedChunk(chunk_id=uuid.uuid4(), document_id="d", text="t", score=9.5, mode="lexical")
    )
    evaluation = await evaluate_prediction(p, book=InMemoryScoreBook())
    assert (evaluation.retrieval_relevance, evaluation.top_score) == (0.0, 0.0)

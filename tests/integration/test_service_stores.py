"""The evaluator's score book and the feedback ledger on the real Postgres."""

from __future__ import annotations

import asyncpg

from services.evaluator.adapters.pg_score_book import PgScoreBook
from services.evaluator.handlers import evaluate_prediction
from services.feedback.adapters.pg_ledger import PgPredictionLedger
from services.feedback.handlers import remember_prediction
from services.inference.adapters.pg_answers import PgAnswerLedger
from tests.unit.evaluator.test_handlers import prediction


async def test_score_book_counts_a_replayed_prediction_once(
    pool: asyncpg.Pool, tenant: str
) -> None:
    book = PgScoreBook(pool)
    await book.create_schema()
    p = prediction("r1", [0.5]).model_copy(update={"tenant": tenant, "experiment": tenant})
    first = await evaluate_prediction(p, book=book)
    replay = await evaluate_prediction(p, book=book)
    other = await evaluate_prediction(
        prediction("r2", [0.9]).model_copy(update={"tenant": tenant, "experiment": tenant}),
        book=book,
    )
    assert first.variant_predictions == replay.variant_predictions == 1
    assert other.variant_predictions == 2
    assert abs(other.variant_mean_relevance - 0.7) < 1e-9


async def test_ledger_remembers_prediction_and_trace(pool: asyncpg.Pool, tenant: str) -> None:
    ledger = PgPredictionLedger(pool)
    await ledger.create_schema()
    p = prediction("r1", [0.5]).model_copy(update={"tenant": tenant})
    traceparent = "00-" + "c" * 32 + "-" + "d" * 16 + "-01"
    await remember_prediction(p, ledger=ledger, traceparent=traceparent)
    await remember_prediction(p, ledger=ledger, traceparent=None)
    known = await ledger.find(tenant, "r1")
    assert known is not None
    assert known.traceparent == traceparent
    assert known.variant == "a"
    assert await ledger.find(tenant, "missing") is None


async def test_answers_are_kept_once_per_event_id_and_per_tenant(
    pool: asyncpg.Pool, tenant: str
) -> None:
    answers = PgAnswerLedger(pool)
    await answers.create_schema()
    first = prediction("r1", [0.5]).model_copy(update={"tenant": tenant})
    later = first.model_copy(update={"answer": "computed again, differently"})
    assert await answers.recall(tenant, first.event_id) is None
    assert await answers.keep(first) == first
    assert await answers.keep(later) == first  # the first answer stays the answer
    assert await answers.recall(tenant, first.event_id) == first
    assert await answers.recall(f"{tenant}-other", first.event_id) is None

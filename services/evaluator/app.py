"""Evaluator's FastStream wiring: predictions -> evaluations."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from faststream import Context, FastStream
from faststream.kafka import KafkaResponse

from services.evaluator.adapters.pg_score_book import PgScoreBook
from services.evaluator.handlers import SERVICE, evaluate_prediction
from services.evaluator.ports import ScoreBook
from shared.cloudevents import envelope
from shared.events import Prediction
from shared.service import ServiceKit
from shared.settings import PillarsSettings
from shared.topics import Topic

__all__ = ["create_app"]


def create_app(settings: PillarsSettings | None = None) -> FastStream:
    """Build the evaluator app; the pool opens in its lifespan."""
    settings = settings or PillarsSettings()
    kit = ServiceKit(SERVICE, settings)

    async def adapters(pool: asyncpg.Pool) -> dict[str, object]:
        book = PgScoreBook(pool)
        await book.create_schema()
        return {"book": book}

    @kit.subscriber(Topic.PREDICTIONS)
    @kit.publisher(Topic.EVALUATIONS)
    async def on_prediction(
        event: Prediction, book: Annotated[ScoreBook, Context()]
    ) -> KafkaResponse:
        return envelope(await evaluate_prediction(event, book=book), kit.source)

    return kit.app(lifespan=kit.database_lifespan(adapters))

"""Evaluator's FastStream wiring: predictions -> evaluations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from faststream import Context, ContextRepo, FastStream
from faststream.kafka import KafkaResponse

from services.evaluator.adapters.pg_score_book import PgScoreBook
from services.evaluator.handlers import SERVICE, evaluate_prediction
from services.evaluator.ports import ScoreBook
from shared.cloudevents import envelope
from shared.db import create_pool
from shared.events import Prediction
from shared.service import ServiceKit
from shared.settings import PillarsSettings
from shared.topics import Topic

__all__ = ["create_app"]


def create_app(settings: PillarsSettings | None = None) -> FastStream:
    """Build the evaluator app; the pool opens in its lifespan."""
    settings = settings or PillarsSettings()
    kit = ServiceKit(SERVICE, settings)

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        pool = await create_pool(settings.dsn)
        book = PgScoreBook(pool)
        await book.create_schema()
        context.set_global("book", book)
        try:
            yield
        finally:
            await pool.close()

    @kit.subscriber(Topic.PREDICTIONS)
    @kit.publisher(Topic.EVALUATIONS)
    async def on_prediction(
        event: Prediction, book: Annotated[ScoreBook, Context()]
    ) -> KafkaResponse:
        return envelope(await evaluate_prediction(event, book=book), kit.source)

    return kit.app(lifespan=lifespan)

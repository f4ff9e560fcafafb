"""Inference's FastStream wiring: requests.embedded -> predictions."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from faststream import Context, FastStream
from faststream.kafka import KafkaResponse

from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.config import InferenceSettings
from services.inference.handlers import SERVICE, answer_request
from services.inference.ports import Retriever
from shared.cloudevents import envelope
from shared.events import RequestEmbedded
from shared.service import ServiceKit
from shared.telemetry import current_trace_id
from shared.topics import Topic

__all__ = ["create_app"]


def create_app(settings: InferenceSettings | None = None) -> FastStream:
    """Build the inference app; the pool opens in its lifespan."""
    settings = settings or InferenceSettings()
    kit = ServiceKit(SERVICE, settings)

    async def adapters(pool: asyncpg.Pool) -> dict[str, object]:
        retriever = PgRetriever(
            pool, ef_search=settings.hnsw_ef_search, iterative_scan=settings.hnsw_iterative_scan
        )
        return {"retriever": retriever}

    @kit.subscriber(Topic.REQUESTS_EMBEDDED)
    @kit.publisher(Topic.PREDICTIONS)
    async def on_request(
        event: RequestEmbedded, retriever: Annotated[Retriever, Context()]
    ) -> KafkaResponse:
        prediction = await answer_request(event, retriever=retriever, trace_id=current_trace_id())
        return envelope(prediction, kit.source)

    return kit.app(lifespan=kit.database_lifespan(adapters))

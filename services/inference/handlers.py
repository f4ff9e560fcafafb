"""Inference handlers: retrieve the request's passages and answer from the best one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.inference.ports import Retriever
from shared.events import ModelRef, Prediction, RequestEmbedded, Stage, derived_id, utcnow

__all__ = ["EXTRACTIVE", "SERVICE", "answer_request"]

SERVICE = "inference"
EXTRACTIVE = ModelRef(name="extractive-best-passage", version="1")
NO_ANSWER = "No indexed passage of this tenant matches the question."


async def answer_request(
    request: RequestEmbedded,
    *,
    retriever: Retriever,
    trace_id: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Prediction:
    """Retrieve the arm's top-k passages and answer with the best-matching one."""
    started = clock()
    sources = await retriever.nearest(request.tenant, request.query_vector, request.top_k)
    return Prediction(
        event_id=derived_id(request.event_id, "predicted"),
        tenant=request.tenant,
        request_id=request.request_id,
        query=request.query,
        user_id=request.user_id,
        experiment=request.experiment,
        variant=request.variant,
        answer=sources[0].text if sources else NO_ANSWER,
        sources=sources,
        model=EXTRACTIVE,
        embedding_model=request.embedding_model,
        request_occurred_at=request.request_occurred_at,
        stages=[*request.stages, Stage(service=SERVICE, started_at=started, finished_at=clock())],
        trace_id=trace_id,
    )

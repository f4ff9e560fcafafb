"""Inference's FastStream wiring: requests.embedded -> predictions."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from faststream import Context, FastStream
from faststream.kafka import KafkaResponse

from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.adapters.traced_retriever import TracedRetriever
from services.inference.config import InferenceSettings
from services.inference.handlers import SERVICE, answer_request
from services.inference.ports import Retriever
from shared.cloudevents import envelope
from shared.events import Prediction, RequestEmbedded
from shared.metrics import GENERATOR_COST, GENERATOR_TOKENS, PREDICTION_LATENCY, PREDICTIONS
from shared.openinference import (
    Kind,
    ModelWork,
    annotate_current_span,
    llm_attributes,
    model_span,
    request_attributes,
)
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
        traced = TracedRetriever(retriever, kit.tracer, ef_search=settings.hnsw_ef_search)
        return {"retriever": traced}

    @kit.subscriber(Topic.REQUESTS_EMBEDDED)
    @kit.publisher(Topic.PREDICTIONS)
    async def on_request(
        event: RequestEmbedded, retriever: Annotated[Retriever, Context()]
    ) -> KafkaResponse:
        annotate_current_span(event)
        attributes = request_attributes(event) | {"input.value": event.query}
        with model_span(kit.tracer, Kind.CHAIN, "inference answer", attributes) as chain:
            prediction = await answer_request(
                event, retriever=retriever, trace_id=current_trace_id()
            )
            chain.set_attribute("output.value", prediction.answer)
            generation(prediction).record(kit.tracer)
        observe(prediction)
        return envelope(prediction, kit.source)

    return kit.app(lifespan=kit.database_lifespan(adapters))


def generation(prediction: Prediction) -> ModelWork:
    """Return the answering step as an LLM span's work.

    It sits at the end of the inference stage: the extractive answerer picks the best
    passage in no measurable time, while a generator's call would carry its own timing.
    """
    attributes = request_attributes(prediction) | llm_attributes(
        prediction.model,
        prompt=prediction.query,
        answer=prediction.answer,
        input_tokens=prediction.input_tokens,
        output_tokens=prediction.output_tokens,
        cost_usd=prediction.estimated_cost_usd,
        template_version=prediction.prompt_template_version,
    )
    stage = prediction.stages[-1]
    return ModelWork(
        Kind.LLM, "inference generate", attributes, stage.finished_at, stage.finished_at
    )


def observe(prediction: Prediction) -> None:
    """Count the prediction, its latency, tokens and cost in the process' metrics."""
    arm = (prediction.experiment, prediction.variant)
    PREDICTIONS.labels(*arm, prediction.model.name).inc()
    latency = (prediction.occurred_at - prediction.request_occurred_at).total_seconds()
    PREDICTION_LATENCY.labels(*arm).observe(max(0.0, latency))
    GENERATOR_TOKENS.labels(prediction.model.name, "input").inc(prediction.input_tokens)
    GENERATOR_TOKENS.labels(prediction.model.name, "output").inc(prediction.output_tokens)
    GENERATOR_COST.labels(prediction.model.name).inc(prediction.estimated_cost_usd)

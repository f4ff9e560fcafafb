"""Inference's FastStream wiring: requests.embedded -> predictions (+ predictions.shadow)."""

from __future__ import annotations

import asyncpg
from faststream import FastStream
from faststream.kafka.publisher import DefaultPublisher

from services.inference.adapters.built_generators import BuiltGenerators
from services.inference.adapters.pg_registry import PgModelRegistry
from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.adapters.registry_classifiers import RegistryClassifiers
from services.inference.adapters.traced_retriever import TracedRetriever
from services.inference.config import InferenceSettings
from services.inference.handlers import SERVICE, answer_request, shadow_requests
from services.inference.pipeline import SolutionRunner
from services.inference.solutions import arms_solutions, load_solutions
from shared.contracts.events import BlockRun, Prediction, RequestEmbedded, utcnow
from shared.contracts.topics import Topic
from shared.kit.metrics import GENERATOR_COST, GENERATOR_TOKENS, PREDICTION_LATENCY, PREDICTIONS
from shared.kit.openinference import (
    Kind,
    ModelWork,
    annotate_current_span,
    llm_attributes,
    model_span,
    request_attributes,
)
from shared.kit.publishing import publish_event
from shared.kit.service import ServiceKit
from shared.kit.telemetry import current_trace_id

__all__ = ["create_app"]

# The OpenInference span kind each recorded block becomes (retrieval has its own span).
SPAN_KIND = {
    "rules": Kind.GUARDRAIL,
    "output_rules": Kind.GUARDRAIL,
    "classifier": Kind.TOOL,
    "generator": Kind.LLM,
}


def create_app(settings: InferenceSettings | None = None) -> FastStream:
    """Build the inference app; solutions and the experiment's arms are checked here, so a
    bad solution file or an arm naming a missing solution stops the start with the reason."""
    settings = settings or InferenceSettings()
    solutions = load_solutions(settings.solutions_dir)
    in_use = arms_solutions(settings.experiment, solutions)
    kit = ServiceKit(SERVICE, settings)
    generators = BuiltGenerators()
    predictions = kit.publisher(Topic.PREDICTIONS)
    shadows = kit.publisher(Topic.PREDICTIONS_SHADOW)

    async def adapters(pool: asyncpg.Pool) -> dict[str, object]:
        retriever = PgRetriever(
            pool, ef_search=settings.hnsw_ef_search, iterative_scan=settings.hnsw_iterative_scan
        )
        registry = PgModelRegistry(pool)
        await registry.create_schema()
        classifiers = RegistryClassifiers(
            registry, allow_unlicensed=settings.allow_unlicensed_models
        )
        # Models load once per process, before the first request rather than during it.
        await generators.warm(s.generator for s in in_use if s.generator)
        runner = SolutionRunner(
            TracedRetriever(retriever, kit.tracer, ef_search=settings.hnsw_ef_search),
            classifiers,
            generators,
            utcnow,
        )
        return {"runner": runner}

    async def answer(
        request: RequestEmbedded, runner: SolutionRunner, publisher: DefaultPublisher, shadow: bool
    ) -> None:
        attributes = request_attributes(request) | {
            "input.value": request.query,
            "pillars.solution": request.solution,
            "pillars.shadow": shadow,
        }
        with model_span(kit.tracer, Kind.CHAIN, "inference answer", attributes) as chain:
            prediction = await answer_request(
                request,
                solutions=solutions,
                runner=runner,
                trace_id=current_trace_id(),
                shadow=shadow,
            )
            chain.set_attribute("output.value", prediction.answer)
            for block in prediction.blocks:
                if block.block in SPAN_KIND:
                    block_work(prediction, block).record(kit.tracer)
            observe(prediction)
            await publish_event(publisher, prediction, kit.source)

    @kit.subscriber(Topic.REQUESTS_EMBEDDED)
    async def on_request(event: RequestEmbedded) -> None:
        annotate_current_span(event)
        runner: SolutionRunner = kit.built("runner")
        await answer(event, runner, predictions, shadow=False)
        # Shadow arms answer after the live answer is out, so they never delay it; the
        # offset commits after both, so a crash loses neither.
        for request in shadow_requests(event):
            await answer(request, runner, shadows, shadow=True)

    return kit.app(lifespan=kit.database_lifespan(adapters), after_shutdown=[generators.aclose])


def block_work(prediction: Prediction, block: BlockRun) -> ModelWork:
    """Return a block's part in the prediction as a span's work, with the block's timing."""
    attributes = request_attributes(prediction) | {
        "pillars.block": block.block,
        "pillars.block.outcome": block.outcome,
        "pillars.shadow": prediction.shadow,
    }
    if block.block == "generator" and block.model is not None:
        attributes |= llm_attributes(
            block.model,
            prompt=prediction.query,
            answer=prediction.answer,
            input_tokens=block.input_tokens,
            output_tokens=block.output_tokens,
            cost_usd=block.cost_usd,
            template_version=prediction.prompt_template_version,
        )
    elif block.model is not None:
        attributes |= {
            "pillars.model": block.model.name,
            "pillars.model.version": block.model.version,
        }
    name = "inference generate" if block.block == "generator" else f"inference {block.block}"
    return ModelWork(SPAN_KIND[block.block], name, attributes, block.started_at, block.finished_at)


def observe(prediction: Prediction) -> None:
    """Count the prediction, its latency, tokens and cost in the process' metrics."""
    arm = (prediction.experiment, prediction.variant)
    PREDICTIONS.labels(*arm, prediction.model.name).inc()
    latency = (prediction.occurred_at - prediction.request_occurred_at).total_seconds()
    PREDICTION_LATENCY.labels(*arm).observe(max(0.0, latency))
    GENERATOR_TOKENS.labels(prediction.model.name, "input").inc(prediction.input_tokens)
    GENERATOR_TOKENS.labels(prediction.model.name, "output").inc(prediction.output_tokens)
    GENERATOR_COST.labels(prediction.model.name).inc(prediction.estimated_cost_usd)

"""Answering one request inside its trace: the chain span, a span per recorded block, the
metrics, and the prediction published (live answers and shadow arms' alike)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.inference.bootstrap import InferenceDependencies
from services.inference.handlers import answer_request, prediction_id, shadow_requests
from services.inference.metrics import observe
from shared.contracts.events import BlockRun, Prediction, RequestEmbedded
from shared.kit.openinference import (
    Kind,
    ModelWork,
    llm_attributes,
    model_span,
    request_attributes,
)
from shared.kit.telemetry import current_trace_id

__all__ = ["SPAN_KIND", "answer_with_shadows", "block_work"]

# The OpenInference span kind each recorded block becomes (retrieval has its own span).
SPAN_KIND = {
    "rules": Kind.GUARDRAIL,
    "output_rules": Kind.GUARDRAIL,
    "classifier": Kind.TOOL,
    "generator": Kind.LLM,
}
Publish = Callable[[Prediction], Awaitable[None]]


async def answer_with_shadows(
    request: RequestEmbedded,
    deps: InferenceDependencies,
    *,
    publish: Publish,
    publish_shadow: Publish,
) -> None:
    """Answer `request` and publish the prediction; then each shadow arm answers, after the
    live answer is out so it never delays it (the offset commits after all of them, so a
    crash loses none)."""
    await _answer(request, deps, publish, shadow=False)
    for shadow in shadow_requests(request):
        await _answer(shadow, deps, publish_shadow, shadow=True)


async def _answer(
    request: RequestEmbedded, deps: InferenceDependencies, publish: Publish, *, shadow: bool
) -> None:
    # A redelivered request gets the answer it first got, not one computed again from an
    # index or experiment that has changed since: one request, one content.
    known = await deps.answers.recall(request.tenant, prediction_id(request))
    if known is not None:
        await publish(known)
        return
    attributes = request_attributes(request) | {
        "input.value": request.query,
        "pillars.solution": request.solution,
        "pillars.shadow": shadow,
    }
    with model_span(deps.tracer, Kind.CHAIN, "inference answer", attributes) as chain:
        prediction = await answer_request(
            request,
            solutions=deps.solutions,
            runner=deps.runner,
            trace_id=current_trace_id(),
            shadow=shadow,
        )
        prediction = await deps.answers.keep(prediction)
        chain.set_attribute("output.value", prediction.answer)
        for block in prediction.blocks:
            if block.block in SPAN_KIND:
                block_work(prediction, block).record(deps.tracer)
        observe(prediction)
        await publish(prediction)


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

"""Inference handlers: answer a request with its arm's solution, and its shadow arms'."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime

from services.inference.pipeline import Answer, SolutionRunner
from services.inference.solutions import Solution
from shared.contracts.embedders import PRIMARY
from shared.contracts.events import (
    ModelRef,
    Prediction,
    RequestEmbedded,
    Stage,
    derived_id,
    utcnow,
)

__all__ = ["SERVICE", "UnknownSolution", "answer_request", "prediction_id", "shadow_requests"]

SERVICE = "inference"


class UnknownSolution(LookupError):  # noqa: N818 - it names the outcome
    """The request names a solution this inference service does not have."""


def _solution(solutions: Mapping[str, Solution], name: str) -> Solution:
    try:
        return solutions[name]
    except KeyError:
        raise UnknownSolution(
            f"no solution {name!r} (this inference service has {sorted(solutions)}): "
            "add its YAML to PILLARS_SOLUTIONS_DIR or fix the experiment's arms"
        ) from None


async def answer_request(
    request: RequestEmbedded,
    *,
    solutions: Mapping[str, Solution],
    runner: SolutionRunner,
    trace_id: str | None = None,
    shadow: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> Prediction:
    """Answer `request` with the solution of its arm, recording every block's part;
    a `shadow` answer (from `shadow_requests`) is marked as one, never to be returned."""
    started = clock()
    solution = _solution(solutions, request.solution)
    answer = await runner.run(solution, request, top_k=request.top_k)
    return prediction(request, solution, answer, started, clock(), trace_id=trace_id, shadow=shadow)


def shadow_requests(request: RequestEmbedded) -> list[RequestEmbedded]:
    """Return the request as each shadow arm receives it (its variant, solution, depth and
    model version)."""
    return [
        request.model_copy(
            update={
                "variant": shadow.variant,
                "solution": shadow.solution,
                "top_k": shadow.top_k,
                "model_version": shadow.model_version,
                "shadows": [],
                "event_id": derived_id(request.event_id, f"shadow:{shadow.variant}"),
            }
        )
        for shadow in request.shadows
    ]


def prediction_id(request: RequestEmbedded) -> uuid.UUID:
    """Return the event id of the prediction answering `request` (a shadow arm's request
    has its own event id, so its prediction too)."""
    return derived_id(request.event_id, "predicted")


def prediction(
    request: RequestEmbedded,
    solution: Solution,
    answer: Answer,
    started: datetime,
    finished: datetime,
    *,
    trace_id: str | None,
    shadow: bool,
) -> Prediction:
    """Return the prediction event for `answer`, with the request's provenance."""
    return request.derive(
        Prediction,
        event_id=prediction_id(request),
        answer=answer.text,
        sources=answer.sources,
        model=answer.model,
        solution=solution.name,
        solution_version=solution.version,
        blocks=answer.blocks,
        label=answer.label,
        confidence=answer.confidence,
        prompt_template_version=answer.prompt_version,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        estimated_cost_usd=answer.cost_usd,
        stages=[*request.stages, Stage(service=SERVICE, started_at=started, finished_at=finished)],
        trace_id=trace_id,
        shadow=shadow,
        embedding_model=_embedding_model(request, solution),
    )


def _embedding_model(request: RequestEmbedded, solution: Solution) -> ModelRef:
    """Return the embedding model whose vectors answered: the retriever's, else the primary."""
    embedder = solution.retriever.embedder if solution.retriever else PRIMARY
    found = request.query_vectors.get(embedder) if embedder != PRIMARY else None
    return found.model if found else request.embedding_model

"""Ingestion handlers: documents become chunk sets, requests get their experiment arm (the
version in force, which announcements and `catch_up` replace)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from services.ingestion.chunking import chunk_id, split_passages
from services.ingestion.fairness import TenantLimiter
from services.ingestion.ports import Assignments, Tokenizer
from shared.contracts.events import (
    Chunk,
    DocumentChanged,
    DocumentChunked,
    InferenceRequest,
    ModelRef,
    Prediction,
    RequestAccepted,
    ShadowArm,
    Stage,
    derived_id,
    utcnow,
)
from shared.experiment_store import ExperimentStore, LiveExperiment, newer_stored
from shared.experiments import Experiment, assign_arm, serving_arms
from shared.kit.deadletter import Rejected

__all__ = [
    "REFUSED_BY",
    "accept_request",
    "admit_request",
    "catch_up",
    "chunk_document",
    "refuse_request",
]

SERVICE = "ingestion"
# What a refused request's prediction names as its model: no model saw it.
REFUSED_BY = ModelRef(name="none", version="refused-at-ingestion")


def chunk_document(
    event: DocumentChanged, *, tokens: Tokenizer, chunk_size: int, overlap: int, max_bytes: int
) -> DocumentChunked:
    """Validate a document change and split an upsert into chunks with deterministic ids."""
    common = {
        "event_id": derived_id(event.event_id, "chunked"),
        "tenant": event.tenant,
        "document_id": event.document_id,
        "version": event.version,
        "title": event.title,
        "source": event.source,
        "metadata": event.metadata,
        "source_occurred_at": event.occurred_at,
    }
    if event.op == "delete":
        return DocumentChunked(deleted=True, **common)
    size = len(event.text.encode())
    if size > max_bytes:
        raise Rejected(
            f"document {event.document_id!r} is {size} bytes, over the {max_bytes}-byte limit "
            "(PILLARS_MAX_DOCUMENT_BYTES)"
        )
    passages = split_passages(event.text, tokens=tokens, size=chunk_size, overlap=overlap)
    if not passages:
        raise Rejected(f"document {event.document_id!r} has no text to index")
    chunks = [
        Chunk(chunk_id=chunk_id(event.tenant, event.document_id, i, text), index=i, text=text)
        for i, text in enumerate(passages)
    ]
    return DocumentChunked(chunks=chunks, **common)


async def accept_request(
    event: InferenceRequest,
    *,
    experiment: Experiment,
    assignments: Assignments | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> RequestAccepted:
    """Stamp a request with its experiment arm, the solution that answers it and the
    shadow arms that answer it for the record.

    The arm comes from a hash of the experiment's unit and salt; with `assignments` a
    user (or session) keeps the arm first given while that arm serves (live, with
    weight), however the weights change; a removed arm's or a weight-0 arm's users are
    assigned again. Request-id units are never remembered: each is seen once.
    """
    started = clock()
    unit = getattr(event, experiment.unit) or event.request_id
    arm = assign_arm(experiment, unit)
    if assignments is not None and experiment.unit != "request_id":
        serving = [a.name for a in serving_arms(experiment)]
        kept = experiment.arm(await assignments.remember(experiment.name, unit, arm.name, serving))
        arm = kept or arm
    return event.derive(
        RequestAccepted,
        event_id=derived_id(event.event_id, "accepted"),
        experiment=experiment.name,
        variant=arm.name,
        solution=arm.solution,
        top_k=arm.top_k,
        model_version=arm.model_version,
        shadows=[
            ShadowArm(
                variant=a.name, solution=a.solution, top_k=a.top_k, model_version=a.model_version
            )
            for a in experiment.shadow_arms_of(arm.name)
        ],
        request_occurred_at=event.occurred_at,
        stages=[Stage(service=SERVICE, started_at=started, finished_at=clock())],
    )


def refuse_request(
    event: InferenceRequest,
    *,
    reason: str,
    experiment: str,
    clock: Callable[[], datetime] = utcnow,
) -> Prediction:
    """Answer `event` at once with a prediction that says why it was refused (`rejected`):
    the caller learns now, instead of waiting for an answer that never comes."""
    now = clock()
    return event.derive(
        Prediction,
        event_id=derived_id(event.event_id, "refused"),
        occurred_at=now,
        experiment=experiment,
        variant="",
        answer="",
        sources=[],
        model=REFUSED_BY,
        embedding_model=REFUSED_BY,
        request_occurred_at=event.occurred_at,
        stages=[Stage(service=SERVICE, started_at=now, finished_at=now)],
        rejected=reason,
    )


async def admit_request(
    event: InferenceRequest,
    *,
    limiter: TenantLimiter,
    experiment: Experiment,
    assignments: Assignments | None,
    refuse: Callable[[Prediction], Awaitable[None]],
) -> RequestAccepted | None:
    """Accept `event` (`accept_request`) while its tenant is within its rate; over it, hand
    `refuse` a prediction saying why (`refuse_request`) and accept nothing (None)."""
    reason = limiter.refusal(event.tenant)
    if reason is None:
        return await accept_request(event, experiment=experiment, assignments=assignments)
    await refuse(refuse_request(event, reason=reason, experiment=experiment.name))
    return None


async def catch_up(*, store: ExperimentStore, live: LiveExperiment) -> None:
    """Put the stored version in force if it is newer than the live one: an announcement
    this replica could not have seen (made while it started) still reaches it."""
    change = await newer_stored(store, live)
    if change is not None:
        live.apply(change)

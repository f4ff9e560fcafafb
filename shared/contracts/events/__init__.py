"""Event contracts: one pydantic model per topic, JSON on the wire.

Every event carries `event_id`, `occurred_at`, `tenant` and `schema_version`.
Consumers ignore unknown fields, so producers may add optional ones; a breaking
change is a new `.v2` topic.
"""

from shared.contracts.events.base import (
    EntityId,
    Event,
    ModelRef,
    Stage,
    TenantId,
    derived_id,
    utcnow,
)
from shared.contracts.events.documents import (
    Chunk,
    DocumentChanged,
    DocumentChunked,
    DocumentIndexed,
)
from shared.contracts.events.evaluations import ABVerdict, ArmMetrics, DriftReport, Evaluation
from shared.contracts.events.feedback import Feedback, FeedbackKind, Outcome, ReviewVerdict
from shared.contracts.events.loop import (
    ExperimentChanged,
    LoopDecision,
    LoopStep,
    ModelKind,
    ModelRegistered,
    TrainingRequested,
)
from shared.contracts.events.requests import (
    BlockRun,
    InferenceRequest,
    Prediction,
    QueryVector,
    RequestAccepted,
    RequestEmbedded,
    RetrievedChunk,
    ShadowArm,
)
from shared.contracts.events.scaling import ScalingDecision

__all__ = [
    "ABVerdict",
    "ArmMetrics",
    "BlockRun",
    "Chunk",
    "DocumentChanged",
    "DocumentChunked",
    "DocumentIndexed",
    "DriftReport",
    "EntityId",
    "Evaluation",
    "Event",
    "ExperimentChanged",
    "Feedback",
    "FeedbackKind",
    "InferenceRequest",
    "LoopDecision",
    "LoopStep",
    "ModelKind",
    "ModelRef",
    "ModelRegistered",
    "Outcome",
    "Prediction",
    "QueryVector",
    "RequestAccepted",
    "RequestEmbedded",
    "RetrievedChunk",
    "ReviewVerdict",
    "ScalingDecision",
    "ShadowArm",
    "Stage",
    "TenantId",
    "TrainingRequested",
    "derived_id",
    "utcnow",
]

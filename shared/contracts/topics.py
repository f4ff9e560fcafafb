"""Topic names, the event each carries, and which services consume and produce each."""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.events import (
    DocumentChanged,
    DocumentChunked,
    DocumentIndexed,
    Evaluation,
    Event,
    ExperimentChanged,
    Feedback,
    InferenceRequest,
    LoopDecision,
    ModelRegistered,
    Outcome,
    Prediction,
    RequestAccepted,
    RequestEmbedded,
    ScalingDecision,
    TrainingRequested,
)

__all__ = [
    "BROADCAST",
    "BUSINESS_SYSTEMS",
    "CONSUMED",
    "CONSUMED_BY",
    "EVENT_OF",
    "MAX_MESSAGE_BYTES",
    "OPERATORS",
    "PRODUCED_BY",
    "Topic",
    "all_consumer_groups",
    "all_topic_names",
    "consumer_group",
    "dlq_name",
    "topic_name",
]

# Documents travel whole with their chunks; give them room beyond Kafka's 1 MB default.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class Topic(StrEnum):
    """The logical topics of DESIGN.md; `topic_name` turns one into a Kafka topic."""

    DOCUMENTS = "documents"
    CHUNKS = "chunks"
    INDEXED = "indexed"
    REQUESTS = "requests"
    REQUESTS_ACCEPTED = "requests.accepted"
    REQUESTS_EMBEDDED = "requests.embedded"
    PREDICTIONS = "predictions"
    PREDICTIONS_SHADOW = "predictions.shadow"
    FEEDBACK = "feedback"
    OUTCOMES = "outcomes"
    EVALUATIONS = "evaluations"
    SCALING = "scaling"
    EXPERIMENTS = "experiments"
    TRAINING = "training"
    MODELS = "models"
    LOOP = "loop"


EVENT_OF: dict[Topic, type[Event]] = {
    Topic.DOCUMENTS: DocumentChanged,
    Topic.CHUNKS: DocumentChunked,
    Topic.INDEXED: DocumentIndexed,
    Topic.REQUESTS: InferenceRequest,
    Topic.REQUESTS_ACCEPTED: RequestAccepted,
    Topic.REQUESTS_EMBEDDED: RequestEmbedded,
    Topic.PREDICTIONS: Prediction,
    Topic.PREDICTIONS_SHADOW: Prediction,
    Topic.FEEDBACK: Feedback,
    Topic.OUTCOMES: Outcome,
    Topic.EVALUATIONS: Evaluation,
    Topic.SCALING: ScalingDecision,
    Topic.EXPERIMENTS: ExperimentChanged,
    Topic.TRAINING: TrainingRequested,
    Topic.MODELS: ModelRegistered,
    Topic.LOOP: LoopDecision,
}

# The topic map: which topics each service consumes and produces. A service's subscribers
# and publishers are declared from it (`ServiceKit` refuses any other), the README's topic
# table is generated from it, and each consumed topic gets a DLQ. Business systems produce
# documents, requests and feedback.
CONSUMED_BY: dict[str, tuple[Topic, ...]] = {
    "ingestion": (Topic.DOCUMENTS, Topic.REQUESTS, Topic.EXPERIMENTS),
    "embedding": (Topic.CHUNKS, Topic.REQUESTS_ACCEPTED, Topic.EXPERIMENTS),
    "inference": (Topic.REQUESTS_EMBEDDED, Topic.EXPERIMENTS, Topic.MODELS),
    "evaluator": (
        Topic.PREDICTIONS,
        Topic.OUTCOMES,
        Topic.REQUESTS_EMBEDDED,
        Topic.PREDICTIONS_SHADOW,
        Topic.MODELS,
    ),
    "feedback": (Topic.PREDICTIONS, Topic.FEEDBACK),
    "trainer": (Topic.TRAINING,),
}
PRODUCED_BY: dict[str, tuple[Topic, ...]] = {
    # A request over its tenant's rate is answered at once by a refusing prediction.
    "ingestion": (Topic.CHUNKS, Topic.REQUESTS_ACCEPTED, Topic.PREDICTIONS),
    "embedding": (Topic.INDEXED, Topic.REQUESTS_EMBEDDED),
    "inference": (Topic.PREDICTIONS, Topic.PREDICTIONS_SHADOW),
    "evaluator": (
        Topic.EVALUATIONS,
        Topic.EXPERIMENTS,
        Topic.TRAINING,
        Topic.MODELS,
        Topic.LOOP,
    ),
    "feedback": (Topic.OUTCOMES, Topic.FEEDBACK),
    "scaler": (Topic.SCALING,),
    "trainer": (Topic.MODELS,),
}
BUSINESS_SYSTEMS: tuple[Topic, ...] = (Topic.DOCUMENTS, Topic.REQUESTS, Topic.FEEDBACK)
# What operators publish through `pillars` (an experiment set by hand, a retraining asked for).
OPERATORS: tuple[Topic, ...] = (Topic.EXPERIMENTS, Topic.TRAINING)
# (service, topic) pairs every replica reads in full (a group of its own, from the end):
# run-time configuration each replica must apply (an experiment, a model version to load),
# not work to share out. The evaluator's loop reads `models` in its shared group instead.
BROADCAST: frozenset[tuple[str, Topic]] = frozenset(
    {
        ("ingestion", Topic.EXPERIMENTS),
        ("inference", Topic.EXPERIMENTS),
        ("inference", Topic.MODELS),
    }
)
CONSUMED: frozenset[Topic] = frozenset(t for topics in CONSUMED_BY.values() for t in topics)


def consumer_group(prefix: str, service: str, topic: Topic) -> str:
    """Return the consumer group `service` reads `topic` with, e.g. `pillars.embedding.chunks`."""
    return f"{prefix}.{service}.{topic.value}"


def all_consumer_groups(prefix: str) -> list[str]:
    """Return every shared consumer group of the platform's services (a broadcast topic's
    readers each have a group of their own)."""
    return [
        consumer_group(prefix, s, t)
        for s, topics in CONSUMED_BY.items()
        for t in topics
        if (s, t) not in BROADCAST
    ]


def topic_name(topic: Topic, prefix: str = "pillars") -> str:
    """Return the Kafka topic for `topic`, e.g. `pillars.requests.accepted.v1`."""
    return f"{prefix}.{topic.value}.v1"


def dlq_name(kafka_topic: str) -> str:
    """Return the dead-letter topic of a consumed Kafka topic."""
    return f"{kafka_topic}.dlq"


def all_topic_names(prefix: str) -> list[str]:
    """Return every Kafka topic pillars uses, dead-letter topics included."""
    names = [topic_name(t, prefix) for t in Topic]
    return names + [dlq_name(topic_name(t, prefix)) for t in Topic if t in CONSUMED]

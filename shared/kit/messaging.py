"""The Kafka broker every service uses: tracing, dead-lettering and at-least-once delivery."""

from __future__ import annotations

import functools
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider

from shared.contracts.topics import MAX_MESSAGE_BYTES, Topic, consumer_group
from shared.kit.deadletter import DeadLetterMiddleware
from shared.kit.kafka_security import broker_security, kafka_client_options
from shared.kit.metrics import KafkaMetrics
from shared.kit.semconv import ConventionalKafkaTelemetry, messaging_conventions
from shared.kit.settings import PillarsSettings
from shared.kit.transactions import PartitionProducers

__all__ = [
    "REQUEST_PATH",
    "consumer_options",
    "consumers_per_replica",
    "make_broker",
    "transactional_producers",
]

# The topics a request crosses before its prediction is out.
REQUEST_PATH = frozenset({Topic.REQUESTS, Topic.REQUESTS_ACCEPTED, Topic.REQUESTS_EMBEDDED})
REQUEST_PATH_FETCH_WAIT_MS = 100
# Request topics a replica reads with `PILLARS_REQUEST_CONSUMERS` consumers, each taking its
# share of the partitions and handling them in order: one consumer spent most of each
# message waiting (on Postgres, on the broker's acknowledgement, on the commit), so at 50
# requests/s inference fell behind on a machine with CPU to spare.
# Only the request path's own readers: the evaluator's copy of `requests.embedded` is not.
PARALLEL_READERS = frozenset(
    {(Topic.REQUESTS, "ingestion"), (Topic.REQUESTS_EMBEDDED, "inference")}
)


def make_broker(settings: PillarsSettings, service: str, tracer: TracerProvider) -> KafkaBroker:
    """Return an unconnected broker for `service`; it connects when the app starts."""
    servers = settings.bootstrap_servers
    client_id = f"pillars-{service}"
    security, token_provider = broker_security(settings)
    return KafkaBroker(
        servers,
        client_id=client_id,
        security=security,
        sasl_oauth_token_provider=token_provider,
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_MESSAGE_BYTES,
        # On SIGTERM (scale-down, Ctrl-C) in-flight messages finish and commit first.
        graceful_timeout=settings.shutdown_grace_s,
        # FastStream logs every message received and processed; at INFO that formatting and
        # writing was a measurable share of a service's CPU. Failures still log as errors.
        log_level=logging.DEBUG,
        middlewares=[
            # Outermost, so the telemetry span and the metrics record the error first.
            functools.partial(DeadLetterMiddleware, backoff_s=settings.retry_backoff_s),
            ConventionalKafkaTelemetry(
                service=service,
                prefix=settings.topic_prefix,
                client_id=client_id,
                servers=servers,
                conventions=messaging_conventions(),
                tracer_provider=tracer,
            ),
            KafkaMetrics(service),
        ],
    )


def transactional_producers(
    settings: PillarsSettings, service: str, topic: Topic
) -> PartitionProducers:
    """Return the transactional producers (exactly-once hops) of `service`'s group reading
    `topic`; they connect as the broker's producer does."""

    def make(transactional_id: str) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"pillars-{service}-txn",
            transactional_id=transactional_id,
            acks="all",
            enable_idempotence=True,
            max_request_size=MAX_MESSAGE_BYTES,
            **kafka_client_options(settings),
        )

    return PartitionProducers(consumer_group(settings.topic_prefix, service, topic), make)


def consumers_per_replica(settings: PillarsSettings, service: str, topic: Topic) -> int:
    """Return how many consumers (group members) one replica of `service` runs for `topic`."""
    return settings.request_consumers if (topic, service) in PARALLEL_READERS else 1


def consumer_options(settings: PillarsSettings, service: str, topic: Topic) -> dict[str, Any]:
    """Return subscriber options for `topic`: its consumer group, commit-after-processing."""
    return {
        "group_id": consumer_group(settings.topic_prefix, service, topic),
        # Commit only once the handler's effects (and its published output) are durable;
        # a crash before that redelivers the message.
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": MAX_MESSAGE_BYTES,
        # When a handler keeps a partition's record past aiokafka's prefetch backoff (0.1 s,
        # e.g. a generator writing), the other partitions are fetched without it, and once
        # it is done that partition waits for the fetch in flight, which the broker holds
        # empty for up to this long; on the request path that wait is the user's. Fast
        # handlers never wait for it. Shorter costs idle CPU: at 10 ms the request path's
        # consumers polling an idle broker took 15% of a 2-core machine (at 500 ms, 1%).
        "fetch_max_wait_ms": REQUEST_PATH_FETCH_WAIT_MS if topic in REQUEST_PATH else 500,
        # A rebalance waits for every member's next heartbeat; see `consumer_heartbeat_ms`.
        "heartbeat_interval_ms": settings.consumer_heartbeat_ms,
        # Exactly-once: outputs of a hop not (yet) committed, or aborted, are never read.
        "isolation_level": "read_committed" if settings.exactly_once else "read_uncommitted",
    }

"""pillars' topics on a Kafka cluster: created when missing, verified when present.

Each topic class (the event topics, their dead-letter topics) has its partitions,
replication factor, `min.insync.replicas` and retention from settings. Existing topics are
compared with that and any drift is reported, never changed: a production operator decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts.topics import CONSUMED, MAX_MESSAGE_BYTES, Topic, dlq_name, topic_name
from shared.kit.kafka_security import KafkaSecuritySettings, kafka_client_options
from shared.kit.settings import PillarsSettings, bootstrap_list

__all__ = [
    "TopicReport",
    "TopicSpec",
    "ensure_topics",
    "reconcile_topics",
    "specs_from",
    "topic_specs",
]


@dataclass(frozen=True)
class TopicSpec:
    """What one topic should be: partitions, replicas and the configs pillars sets."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass
class TopicReport:
    """What `ensure_topics` did: the topics it created and how existing ones differ."""

    created: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)


def topic_specs(
    prefix: str,
    partitions: int,
    replication_factor: int,
    *,
    min_insync_replicas: int | None = None,
    retention_ms: int | None = None,
    dlq_retention_ms: int | None = None,
) -> list[TopicSpec]:
    """Return every topic pillars uses (dead-letter topics included) as it should be."""
    base = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    if min_insync_replicas is not None:
        base["min.insync.replicas"] = str(min_insync_replicas)
    events = base | ({"retention.ms": str(retention_ms)} if retention_ms is not None else {})
    dlqs = base | ({"retention.ms": str(dlq_retention_ms)} if dlq_retention_ms else {})
    specs = [
        TopicSpec(topic_name(t, prefix), partitions, replication_factor, events) for t in Topic
    ]
    specs += [
        TopicSpec(dlq_name(topic_name(t, prefix)), partitions, replication_factor, dlqs)
        for t in Topic
        if t in CONSUMED
    ]
    return specs


def specs_from(settings: PillarsSettings, replication_factor: int | None = None) -> list[TopicSpec]:
    """Return the topic specs the settings describe."""
    return topic_specs(
        settings.topic_prefix,
        settings.topic_partitions,
        replication_factor or settings.topic_replication_factor,
        min_insync_replicas=settings.topic_min_insync_replicas,
        retention_ms=settings.topic_retention_ms,
        dlq_retention_ms=settings.dlq_retention_ms,
    )


async def ensure_topics(
    bootstrap_servers: str | Sequence[str],
    prefix: str,
    partitions: int,
    replication_factor: int = 1,
    *,
    specs: list[TopicSpec] | None = None,
    security: KafkaSecuritySettings | None = None,
) -> list[str]:
    """Create the topics that do not exist yet and return the names it created."""
    report = await reconcile_topics(
        bootstrap_servers,
        specs or topic_specs(prefix, partitions, replication_factor),
        security=security,
    )
    return report.created


async def reconcile_topics(
    bootstrap_servers: str | Sequence[str],
    specs: list[TopicSpec],
    *,
    verify: bool = False,
    security: KafkaSecuritySettings | None = None,
) -> TopicReport:
    """Create the missing topics of `specs`; with `verify`, report how existing ones differ.

    Refuses (RuntimeError, before creating anything) a replication factor above the
    cluster's brokers.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_list(bootstrap_servers),
        **(kafka_client_options(security) if security else {}),
    )
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        wanted = max((s.replication_factor for s in specs), default=1)
        if wanted > brokers:
            raise RuntimeError(
                f"replication factor {wanted} exceeds the cluster's {brokers} broker(s): "
                "lower PILLARS_TOPIC_REPLICATION_FACTOR, or add brokers"
            )
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        report = TopicReport(created=await _create(admin, missing))
        # What existed, or was created meanwhile by another process (a stale listing too).
        present = [s for s in specs if s.name not in report.created]
        if verify and present:
            report.drift = await _drift(admin, present)
        return report
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, missing: list[TopicSpec]) -> list[str]:
    if not missing:
        return []
    new = [
        NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs)
        for s in missing
    ]
    # Another process may create them at the same moment (or the listing was stale):
    # a topic that already exists is the goal too, and is not reported as created.
    try:
        response = await admin.create_topics(new)
    except TopicAlreadyExistsError:
        return []
    created = []
    for name, code, *message in response.topic_errors:
        if code == TopicAlreadyExistsError.errno:
            continue
        if code != 0:
            raise RuntimeError(f"could not create topic {name}: error {code} {message}")
        created.append(name)
    return created


async def _drift(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> list[str]:
    described = {t["topic"]: t for t in await admin.describe_topics([s.name for s in specs])}
    resources = [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs]
    configs: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for _code, _message, _type, name, entries in response.resources:
            configs[name] = {entry[0]: entry[1] for entry in entries}
    drift = []
    for spec in specs:
        actual: dict[str, Any] = described.get(spec.name, {})
        partitions = actual.get("partitions", [])
        replicas = max((len(p["replicas"]) for p in partitions), default=0)
        if len(partitions) != spec.partitions:
            drift.append(
                f"{spec.name}: {len(partitions)} partitions, settings say {spec.partitions}"
            )
        if replicas != spec.replication_factor:
            wanted = spec.replication_factor
            drift.append(f"{spec.name}: replication factor {replicas}, settings say {wanted}")
        for key, value in spec.configs.items():
            found = configs.get(spec.name, {}).get(key)
            if found != value:
                drift.append(f"{spec.name}: {key}={found}, settings say {value}")
    return drift

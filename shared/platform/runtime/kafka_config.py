"""A KRaft node's server.properties (one standalone node, or one node of a cluster) and
where its files live."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KafkaPaths", "Quorum", "new_cluster_id", "plaintext_listeners", "server_properties"]


@dataclass(frozen=True)
class Quorum:
    """One node's place in a cluster of combined broker/controller nodes.

    `ports` maps each node id to its (client port, controller port); every node votes in
    the controller quorum. Replication factor 3 and `min.insync.replicas` 2 for every topic,
    the internal ones included, as managed Kafka services and Strimzi's examples run.
    """

    node_id: int
    cluster_id: str
    ports: dict[int, tuple[int, int]]
    replication_factor: int = 3
    min_insync_replicas: int = 2


def new_cluster_id() -> str:
    """Return what `StorageTool random-uuid` prints (base64url of a random UUID, never
    starting with "-"), without starting a JVM."""
    cluster_id = "-"
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return cluster_id


def server_properties(
    port: int,
    controller_port: int,
    log_dirs: Path,
    quorum: Quorum | None = None,
    listeners: list[str] | None = None,
) -> str:
    """Return the properties of a node listening on `port` (clients) and `controller_port`;
    `listeners` replaces the plaintext listener lines (a secure broker's)."""
    if quorum is None:
        node_id, replication, min_isr = 1, 1, 1
        voters = [f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}"]
    else:
        node_id = quorum.node_id
        replication = min(quorum.replication_factor, len(quorum.ports))
        min_isr = min(quorum.min_insync_replicas, replication)
        voters = [
            "controller.quorum.voters="
            + ",".join(f"{n}@127.0.0.1:{c}" for n, (_, c) in sorted(quorum.ports.items()))
        ]
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node_id}",
            *voters,
            *(listeners or plaintext_listeners(port, controller_port)),
            f"log.dirs={log_dirs}",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            f"default.replication.factor={replication}",
            f"min.insync.replicas={min_isr}",
            f"offsets.topic.replication.factor={replication}",
            # Few internal partitions: creating 50 takes seconds on a small machine.
            "offsets.topic.num.partitions=3",
            f"transaction.state.log.replication.factor={replication}",
            f"transaction.state.log.min.isr={min_isr}",
            "transaction.state.log.num.partitions=3",
            f"share.coordinator.state.topic.replication.factor={replication}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "message.max.bytes=8388608",
            "",
        ]
    )


def plaintext_listeners(
    port: int, controller_port: int, advertised: str | None = None
) -> list[str]:
    """Return the listener lines of a plaintext node, telling clients to reach it at
    `advertised` (HOST:PORT) where that is not where it listens."""
    return [
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://{advertised or f'127.0.0.1:{port}'}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
    ]


@dataclass(frozen=True)
class KafkaPaths:
    """Where a broker's jars and its data (log dirs, ports, logs) live."""

    jars_dir: Path
    data_dir: Path

    @property
    def log_dirs(self) -> Path:
        """Return the Kafka log dir (topic data and the KRaft metadata log)."""
        return self.data_dir / "logs"

    @property
    def log_file(self) -> Path:
        """Return the broker's own log, written by log4j2."""
        return self.data_dir / "kafka.log"

    @property
    def console_file(self) -> Path:
        """Return the JVM's stdout/stderr, where start-up crashes show up."""
        return self.data_dir / "kafka.out"

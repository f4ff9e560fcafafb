"""An embedded Apache Kafka cluster: several combined broker/controller KRaft nodes on
127.0.0.1, from the same jars as the single broker (`pillars up --brokers 3`).

Every topic, the internal ones included, is replicated on three nodes with
`min.insync.replicas` 2: a write is acknowledged once two nodes have it, so one node can
die without losing an acknowledged record or stopping producers.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shared.platform.runtime.errors import EmbeddedServer, RuntimeSetupError
from shared.platform.runtime.host import free_port, port_free
from shared.platform.runtime.kafka import EmbeddedKafka
from shared.platform.runtime.kafka_config import Quorum, new_cluster_id

__all__ = ["EmbeddedKafkaCluster"]

log = logging.getLogger(__name__)


class EmbeddedKafkaCluster(EmbeddedServer):
    """`brokers` KRaft nodes in `<data_dir>/node-<id>`; the ports and cluster id are chosen
    once and kept in `<data_dir>/cluster.json`, so a restart keeps the topics."""

    def __init__(self, data_dir: Path, jars_dir: Path, brokers: int = 3) -> None:
        """Prepare (not start) a cluster of `brokers` nodes storing in `data_dir`."""
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        self.data_dir = data_dir
        self.jars_dir = jars_dir
        self.brokers = brokers
        self.nodes: list[EmbeddedKafka] = []

    @property
    def bootstrap_servers(self) -> str:
        """Return every node's `127.0.0.1:PORT`, comma-separated (a bootstrap list)."""
        quorum = self._quorum(1)
        return ",".join(f"127.0.0.1:{port}" for _, (port, _) in sorted(quorum.ports.items()))

    @property
    def running(self) -> bool:
        """Tell whether every node's JVM is alive."""
        return bool(self.nodes) and all(node.running for node in self.nodes)

    def start(self, timeout_s: float = 120.0) -> str:
        """Start every node together and wait until each answers; return the bootstrap list."""
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.nodes:
            self.nodes = [
                EmbeddedKafka(self.data_dir / f"node-{n}", self.jars_dir, quorum=self._quorum(n))
                for n in range(1, self.brokers + 1)
            ]
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.wait_ready(started + timeout_s)
        except BaseException:
            self.stop()
            raise
        log.info(
            "Kafka cluster of %d listening on %s (started in %.1f s)",
            self.brokers,
            self.bootstrap_servers,
            time.monotonic() - started,
        )
        return self.bootstrap_servers

    def restart(self, timeout_s: float = 120.0) -> str:
        """Start the nodes that died again (the others keep serving)."""
        for node in self.nodes:
            if not node.running:
                node.start(timeout_s)
        return self.bootstrap_servers

    def stop(self) -> None:
        """Stop every node at once; safe to repeat. One at a time, the last ones would wait
        out their controlled shutdown for a controller quorum that had already left."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.nodes))) as stopping:
            list(stopping.map(lambda node: node.stop(), self.nodes))

    def _quorum(self, node_id: int) -> Quorum:
        path = self.data_dir / "cluster.json"
        if path.exists():
            saved = json.loads(path.read_text())
            ports = {int(n): (p, c) for n, (p, c) in saved["ports"].items()}
            if len(ports) != self.brokers:
                raise RuntimeSetupError(
                    f"{self.data_dir} holds a cluster of {len(ports)} brokers, not "
                    f"{self.brokers}: start it with --brokers {len(ports)}, or delete the folder"
                )
            busy = [p for pair in ports.values() for p in pair if not port_free(p)]
            if busy and not self.nodes:
                raise RuntimeSetupError(
                    f"the Kafka cluster's ports {busy} (recorded in {path}, fixed once the "
                    "storage is formatted) are in use: is another cluster running there?"
                )
            return Quorum(node_id, saved["cluster_id"], ports)
        chosen: list[int] = []
        for _ in range(2 * self.brokers):
            chosen.append(next(p for p in iter(free_port, None) if p not in chosen))
        ports = {n: (chosen[2 * n - 2], chosen[2 * n - 1]) for n in range(1, self.brokers + 1)}
        cluster_id = new_cluster_id()
        path.write_text(json.dumps({"cluster_id": cluster_id, "ports": ports}))
        return Quorum(node_id, cluster_id, ports)

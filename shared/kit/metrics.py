"""Prometheus metrics every service has: Kafka's (`KafkaMetrics`), hop latency, dead letters;
one endpoint a process. Each service defines its domain series in its own `metrics.py`.

Names follow Prometheus' conventions (base units, `_total` counters, `_seconds` durations).
A process serves them on `PILLARS_METRICS_PORT` (unset: no endpoint; 0: any free port). When
`PILLARS_METRICS_TARGETS_DIR` is set (as `pillars up` does) it also writes a file-based service
discovery entry there, so a Prometheus with `file_sd_configs` finds every local replica.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from faststream import BaseMiddleware
from faststream.exceptions import IgnoredException
from faststream.kafka.response import KafkaPublishCommand
from faststream.message import StreamMessage
from faststream.prometheus.consts import (
    PROCESSING_STATUS_BY_ACK_STATUS,
    PROCESSING_STATUS_BY_HANDLER_EXCEPTION_MAP,
)
from faststream.prometheus.container import MetricsContainer
from faststream.prometheus.types import ProcessingStatus, PublishingStatus
from prometheus_client import REGISTRY, Counter, Histogram, start_http_server

from shared.kit.faststream_seams import ContextRepo
from shared.kit.records import records_of

__all__ = [
    "DEADLETTERS",
    "HOP_LATENCY",
    "LATENCY_BUCKETS",
    "KafkaMetrics",
    "MetricsEndpoint",
]

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HOP_LATENCY = Histogram(
    "pillars_hop_latency_seconds",
    "From a record's Kafka timestamp to the start of its processing by a service.",
    ["service", "topic"],
    buckets=LATENCY_BUCKETS,
)
DEADLETTERS = Counter(
    "pillars_deadletters_total", "Records sent to a dead-letter topic.", ["topic"]
)


class KafkaMetrics:
    """The broker middleware (a factory FastStream calls once per message) that measures Kafka.

    It records FastStream's `faststream_*` families, the names and labels the dashboards
    read (received, processed, in process, sizes, durations, published, exceptions), and
    each record's hop latency (`pillars_hop_latency_seconds`). FastStream's own middleware
    looked up every labelled child on every message (six lookups a consumed message);
    here each child is looked up once.
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self.app_name = f"pillars-{service}"
        self.families = MetricsContainer(REGISTRY, custom_label_names=())
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _KafkaMeasures:
        """Return the middleware that measures one message, or one publish (`msg` None)."""
        return _KafkaMeasures(msg, context=context, metrics=self)

    def child(self, family: str, *labels: str) -> Any:
        """Return `family`'s child for this app, Kafka and `labels`, looked up once."""
        key = (family, *labels)
        found = self._children.get(key)
        if found is None:
            metric = getattr(self.families, family)
            found = self._children[key] = metric.labels(self.app_name, "kafka", *labels)
        return found

    def hop(self, topic: str) -> Any:
        """Return the hop latency child of `topic`, looked up once."""
        key = ("pillars_hop_latency", topic)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = HOP_LATENCY.labels(self.service, topic)
        return found


class _KafkaMeasures(BaseMiddleware[KafkaPublishCommand, Any]):
    """Measures one consumed message (or batch), or one publish."""

    def __init__(self, msg: Any, /, *, context: ContextRepo, metrics: KafkaMetrics) -> None:
        super().__init__(msg, context=context)
        self.metrics = metrics

    async def on_receive(self) -> None:
        """Observe each record's time since its Kafka timestamp before anything else runs."""
        now_ms = time.time() * 1000
        for record in records_of(self.msg):
            timestamp = getattr(record, "timestamp", None)
            if isinstance(timestamp, int) and timestamp > 0:
                self.metrics.hop(record.topic).observe(max(0.0, now_ms - timestamp) / 1000)
        await super().on_receive()

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        """Count the message in, time its processing and count it out by status."""
        records = records_of(msg.raw_message)
        topic, count = str(records[0].topic), len(records)
        child = self.metrics.child
        child("received_messages_total", topic).inc(count)
        size = sum(len(r.value or b"") for r in records)
        child("received_messages_size_bytes", topic).observe(size)
        in_process = child("received_messages_in_process", topic)
        in_process.inc(count)
        error: Exception | None = None
        started = time.perf_counter()
        try:
            return await call_next(msg)
        except Exception as e:
            error = e
            if not isinstance(e, IgnoredException):
                exception = type(e).__name__
                child("received_processed_messages_exceptions_total", topic, exception).inc()
            raise
        finally:
            duration = time.perf_counter() - started
            child("received_processed_messages_duration_seconds", topic).observe(duration)
            in_process.dec(count)
            status = ProcessingStatus.acked
            if msg.committed or error:
                status = (
                    PROCESSING_STATUS_BY_ACK_STATUS.get(msg.committed)  # type: ignore[arg-type]
                    or PROCESSING_STATUS_BY_HANDLER_EXCEPTION_MAP.get(type(error))
                    or ProcessingStatus.error
                )
            child("received_processed_messages_total", topic, status.value).inc(count)

    async def publish_scope(self, call_next: Any, cmd: KafkaPublishCommand) -> Any:
        """Time the publish and count it by destination and status."""
        child = self.metrics.child
        failed = False
        started = time.perf_counter()
        try:
            return await call_next(cmd)
        except Exception as e:
            failed = True
            exception = type(e).__name__
            child("published_messages_exceptions_total", cmd.destination, exception).inc()
            raise
        finally:
            duration = time.perf_counter() - started
            child("published_messages_duration_seconds", cmd.destination).observe(duration)
            status = PublishingStatus.error if failed else PublishingStatus.success
            count = len(cmd.batch_bodies)
            child("published_messages_total", cmd.destination, status.value).inc(count)


class MetricsEndpoint:
    """The process' `/metrics` HTTP endpoint and its service-discovery file."""

    def __init__(
        self, service: str, port: int | None, targets_dir: Path | None, *, host: str = "127.0.0.1"
    ) -> None:
        self.service = service
        self.port = port
        self.host = host
        self.targets_dir = targets_dir
        self.url: str | None = None
        self._server: Any = None
        self._target: Path | None = None

    def start(self) -> None:
        """Serve `/metrics` (nothing when no port is configured)."""
        if self.port is None:
            return
        self._server, thread = start_http_server(self.port, addr=self.host)
        del thread
        port = self._server.server_port
        self.url = f"http://127.0.0.1:{port}/metrics"
        log.info("metrics at %s", self.url)
        if self.targets_dir is not None:
            replica = os.environ.get("PILLARS_REPLICA", str(os.getpid()))
            self.targets_dir.mkdir(parents=True, exist_ok=True)
            self._target = self.targets_dir / f"{self.service}-{replica}.json"
            entry = [{"targets": [f"127.0.0.1:{port}"], "labels": {"service": self.service}}]
            self._target.write_text(json.dumps(entry))

    def stop(self) -> None:
        """Stop serving and withdraw the discovery entry."""
        if self._target is not None:
            self._target.unlink(missing_ok=True)
            self._target = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

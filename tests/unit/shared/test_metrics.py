"""Prometheus metrics: hop latency from Kafka timestamps, the endpoint and its discovery file."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from faststream import ContextRepo
from prometheus_client import REGISTRY

from shared.metrics import HopLatency, MetricsEndpoint

pytestmark = pytest.mark.observability


def hop_count(service: str, topic: str) -> float:
    labels = {"service": service, "topic": topic}
    return REGISTRY.get_sample_value("pillars_hop_latency_seconds_count", labels) or 0.0


def hop_sum(service: str, topic: str) -> float:
    labels = {"service": service, "topic": topic}
    return REGISTRY.get_sample_value("pillars_hop_latency_seconds_sum", labels) or 0.0


async def test_every_record_of_a_batch_observes_its_time_since_its_kafka_timestamp() -> None:
    now_ms = int(time.time() * 1000)
    late = [SimpleNamespace(topic="t.hop", timestamp=now_ms - lag) for lag in (2000, 3000)]
    untimed = SimpleNamespace(topic="t.hop", timestamp=-1)  # no timestamp: not observed
    records = (*late, untimed)
    before_count, before_sum = hop_count("unit", "t.hop"), hop_sum("unit", "t.hop")
    await HopLatency(records, context=ContextRepo(), service="unit").on_receive()
    assert hop_count("unit", "t.hop") - before_count == 2
    assert hop_sum("unit", "t.hop") - before_sum == pytest.approx(5.0, abs=0.5)


def test_the_endpoint_serves_metrics_and_lists_itself_for_discovery(tmp_path: Path) -> None:
    endpoint = MetricsEndpoint("inference", 0, tmp_path)
    endpoint.start()
    try:
        [entry_file] = list(tmp_path.iterdir())
        [entry] = json.loads(entry_file.read_text())
        assert entry["labels"] == {"service": "inference"}
        with urllib.request.urlopen(f"http://{entry['targets'][0]}/metrics", timeout=5) as reply:
            page = reply.read().decode()
        assert "# TYPE pillars_predictions_total counter" in page
        assert endpoint.url == f"http://127.0.0.1:{entry['targets'][0].split(':')[1]}/metrics"
    finally:
        endpoint.stop()
    assert not list(tmp_path.iterdir())


def test_no_port_means_no_endpoint(tmp_path: Path) -> None:
    endpoint = MetricsEndpoint("inference", None, tmp_path)
    endpoint.start()
    endpoint.stop()
    assert endpoint.url is None
    assert not list(tmp_path.iterdir())

"""Prometheus metrics: Kafka's families and hop latency, the endpoint and its discovery file."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from faststream import AckPolicy, ContextRepo
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client import REGISTRY

from shared.kit.deadletter import Rejected
from shared.kit.metrics import KafkaMetrics, MetricsEndpoint
from shared.kit.settings import PillarsSettings

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
    await KafkaMetrics("unit")(records, context=ContextRepo()).on_receive()
    assert hop_count("unit", "t.hop") - before_count == 2
    assert hop_sum("unit", "t.hop") - before_sum == pytest.approx(5.0, abs=0.5)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


APP = {"app_name": "pillars-metered", "broker": "kafka"}
HANDLED = {**APP, "handler": "t.metered"}


def kafka_counts() -> dict[str, float]:
    """The `faststream_*` counts of the test's handler and destination, now."""
    processed = "faststream_received_processed_messages_total"
    return {
        "in": sample("faststream_received_messages_total", **HANDLED),
        "ok": sample(processed, **HANDLED, status="acked"),
        "error": sample(processed, **HANDLED, status="error"),
        "raised": sample(
            "faststream_received_processed_messages_exceptions_total",
            **HANDLED,
            exception_type="Rejected",
        ),
        "out": sample(
            "faststream_published_messages_total", **APP, destination="t.out", status="success"
        ),
    }


async def test_messages_are_counted_in_faststreams_families_by_status() -> None:
    broker = KafkaBroker("unused:9092", middlewares=[KafkaMetrics("metered")])

    @broker.subscriber("t.metered", group_id="g", ack_policy=AckPolicy.NACK_ON_ERROR)
    async def handle(body: str) -> None:
        if body == "bad":
            raise Rejected("bad")

    publisher = broker.publisher("t.out")
    before = kafka_counts()
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish("good", "t.metered")
        await test_broker.publish("also good", "t.metered")
        with pytest.raises(Rejected):
            await test_broker.publish("bad", "t.metered")
        await publisher.publish("sent")
    after = kafka_counts()
    assert {k: after[k] - before[k] for k in after} == {
        "in": 3,
        "ok": 2,
        "error": 1,
        "raised": 1,
        "out": 1,
    }
    in_process = sample("faststream_received_messages_in_process", **HANDLED)
    assert in_process == 0
    duration = "faststream_received_processed_messages_duration_seconds_count"
    assert sample(duration, **HANDLED) >= 3


def test_the_endpoint_serves_metrics_and_lists_itself_for_discovery(tmp_path: Path) -> None:
    endpoint = MetricsEndpoint("inference", 0, tmp_path)
    endpoint.start()
    try:
        [entry_file] = list(tmp_path.iterdir())
        [entry] = json.loads(entry_file.read_text())
        assert entry["labels"] == {"service": "inference"}
        with urllib.request.urlopen(f"http://{entry['targets'][0]}/metrics", timeout=5) as reply:
            page = reply.read().decode()
        assert "# TYPE pillars_hop_latency_seconds histogram" in page
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


@pytest.mark.security
def test_the_endpoint_listens_on_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    assert PillarsSettings().metrics_host == "127.0.0.1"
    endpoint = MetricsEndpoint("inference", 0, None)
    endpoint.start()
    try:
        assert endpoint._server.server_address[0] == "127.0.0.1"
    finally:
        endpoint.stop()
    anywhere = MetricsEndpoint("inference", 0, None, host="0.0.0.0")
    anywhere.start()
    try:
        assert anywhere._server.server_address[0] == "0.0.0.0"
    finally:
        anywhere.stop()

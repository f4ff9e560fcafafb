"""The scaler as assembled by its bootstrap, with fakes, over FastStream's in-memory broker:
one round's decisions on `pillars.scaling.v1` and what the backend was asked to do."""

from __future__ import annotations

from functools import partial

from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.scaler.app import create_app, schedule_rounds
from services.scaler.bootstrap import bootstrap
from services.scaler.config import ScalerSettings
from services.scaler.handlers import SERVICE
from shared.contracts.topics import Topic
from shared.kit.service import ServiceKit
from tests.unit.scaler.fakes import FixedLagProbe, RecordingBackend

Seen = list[tuple[dict[str, object], bytes, dict[str, str]]]


def scaler_settings(watch: dict[str, list[Topic]]) -> ScalerSettings:
    return ScalerSettings(
        kafka_bootstrap_servers="unused:9092",
        scaler_watch=watch,
        scaler_rate_per_replica=10.0,
        scaler_target_drain_s=10.0,
    )


async def run_one_round(
    settings: ScalerSettings, probe: FixedLagProbe, backend: RecordingBackend
) -> Seen:
    """Wire the scaler as `create_app` does, run the round `kit.every` runs once, and
    return what it published on the scaling topic."""
    kit = ServiceKit(SERVICE, settings)
    round_ = schedule_rounds(kit, partial(bootstrap, settings, probe=probe, backend=backend))
    app = kit.app()
    seen: Seen = []

    @kit.broker.subscriber("pillars.scaling.v1")
    async def out(body: dict[str, object], message: KafkaMessage) -> None:
        seen.append((body, message.raw_message.key, message.headers))

    async with app.lifespan_context(), TestKafkaBroker(kit.broker):
        await round_()
    return seen


async def test_a_round_decides_acts_and_publishes_the_decision() -> None:
    settings = scaler_settings({"embedding": [Topic.CHUNKS]})
    probe = FixedLagProbe(partition_lags=(200, 200, 200))
    backend = RecordingBackend(running=1)

    [(body, key, headers)] = await run_one_round(settings, probe, backend)

    assert probe.asked == [("pillars.embedding.chunks", "pillars.chunks.v1")]
    assert backend.calls == [("embedding", 3)]  # 600 behind at 10/s each, 3 partitions
    assert key == b"platform/embedding"
    assert headers["ce_type"] == "dev.pillars.ScalingDecision.v1"
    assert headers["ce_source"] == "/pillars/scaler"
    assert body["service"] == "embedding"
    assert body["consumer_group"] == "pillars.embedding.chunks"
    assert (body["lag"], body["partition_lags"]) == (600, [200, 200, 200])
    assert (body["current_replicas"], body["desired_replicas"]) == (1, 3)
    assert (body["backend"], body["acted"], body["error"]) == ("recording", True, "")


async def test_a_service_whose_lag_cannot_be_read_does_not_stop_the_others() -> None:
    settings = scaler_settings({"embedding": [Topic.CHUNKS], "ingestion": [Topic.DOCUMENTS]})
    probe = FixedLagProbe(
        partition_lags=(200, 200, 200), unreachable=frozenset({"pillars.embedding.chunks"})
    )
    backend = RecordingBackend(running=1)

    seen = await run_one_round(settings, probe, backend)

    assert [body["service"] for body, _, _ in seen] == ["ingestion"]
    assert backend.calls == [("ingestion", 3)]


def test_the_app_schedules_the_round_without_connecting() -> None:
    settings = scaler_settings({"embedding": [Topic.CHUNKS]})
    app = create_app(settings, assemble=partial(bootstrap, settings, probe=FixedLagProbe((0,))))

    assert app.broker is not None

"""The trainer as assembled by its bootstrap, with fakes, over FastStream's in-memory
broker: a training request in, a registered model out on `models`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.trainer.app import create_app
from services.trainer.bootstrap import bootstrap
from services.trainer.config import TrainerSettings
from shared.contracts.events import TrainingRequested, derived_id
from tests.fakes import FakeEncoder
from tests.unit.trainer.fakes import InMemoryLabels, InMemoryRegistry, InMemoryRuns, synthetic_rows

pytestmark = pytest.mark.loop


async def test_the_assembled_service_answers_a_training_request(tmp_path: Path) -> None:
    settings = TrainerSettings(kafka_bootstrap_servers="unused:9092", data_dir=tmp_path)
    registry = InMemoryRegistry()
    app = create_app(
        settings,
        assemble=partial(
            bootstrap,
            settings,
            labels=InMemoryLabels(synthetic_rows(40)),
            registry=registry,
            encoder=FakeEncoder(),
            runs=InMemoryRuns(),
        ),
    )
    broker = app.broker
    assert broker is not None
    seen: list[tuple[dict[str, object], bytes, dict[str, str]]] = []

    @broker.subscriber("pillars.models.v1")
    async def out(body: dict[str, object], message: KafkaMessage) -> None:
        seen.append((body, message.raw_message.key, message.headers))

    asked = TrainingRequested(tenant="acme", model="sentiment", reason="unit test")
    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(asked, "pillars.training.v1", key=asked.message_key)
    [(body, key, headers)] = seen
    assert key == b"acme/sentiment"
    assert headers["ce_type"] == "dev.pillars.ModelRegistered.v1"
    assert body["event_id"] == str(derived_id(asked.event_id, "model-registered"))
    assert (body["model"], body["version"], body["admitted"]) == ("sentiment", 1, True)
    assert body["requested_by"] == str(asked.event_id)
    [record] = registry.records.values()
    assert record.artifact.startswith(str(tmp_path / "models" / "sentiment"))

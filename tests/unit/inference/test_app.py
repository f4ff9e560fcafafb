"""Inference as assembled by its bootstrap, with fakes, over FastStream's in-memory broker:
a request is answered, its shadow arm answers after it, both with keys and headers."""

from __future__ import annotations

from functools import partial
from typing import Any

from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.sdk.trace import TracerProvider

from services.inference.app import create_app
from services.inference.bootstrap import bootstrap
from services.inference.config import InferenceSettings
from services.inference.solutions import arms_solutions, load_solutions
from shared.contracts.events import ShadowArm
from tests.unit.inference.test_handlers import embedded, indexed
from tests.unit.inference.test_pipeline import FakeClassifiers, FakeGenerators


async def test_the_assembled_service_answers_live_then_shadow() -> None:
    settings = InferenceSettings(kafka_bootstrap_servers="unused:9092")
    solutions = load_solutions(settings.solutions_dir)
    index = await indexed("json dumps serializes objects", "cats purr softly")
    assemble = partial(
        bootstrap,
        settings,
        solutions=solutions,
        in_use=arms_solutions(settings.experiment, solutions),
        tracer=TracerProvider(),
        retriever=index,
        classifiers=FakeClassifiers(),
        generators=FakeGenerators(),
    )
    app = create_app(settings, assemble=assemble)
    broker = app.broker
    assert broker is not None
    seen: list[tuple[str, dict[str, Any], bytes, dict[str, str]]] = []

    @broker.subscriber("pillars.predictions.v1")
    @broker.subscriber("pillars.predictions.shadow.v1")
    async def out(body: dict[str, Any], message: KafkaMessage) -> None:
        raw = message.raw_message
        seen.append((raw.topic, body, raw.key, message.headers))

    request = embedded("json dumps objects").model_copy(
        update={
            "solution": "rag-answerer",
            "shadows": [ShadowArm(variant="deep", solution="rag-answerer", top_k=5)],
        }
    )
    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(request, "pillars.requests.embedded.v1", key=request.message_key)
    assert [topic for topic, *_ in seen] == [
        "pillars.predictions.v1",
        "pillars.predictions.shadow.v1",
    ]
    (_, live, key, headers), (_, shadow, _, _) = seen
    assert key == b"acme/r1"
    assert headers["ce_type"] == "dev.pillars.Prediction.v1"
    assert live["answer"] == "json dumps serializes objects"
    assert (live["shadow"], shadow["shadow"]) == (False, True)
    assert shadow["variant"] == "deep"
    assert index.searches  # the fake retriever answered through the assembled runner

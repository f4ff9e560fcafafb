"""Inference as assembled by its bootstrap, with fakes, over FastStream's in-memory broker:
a request is answered, its shadow arm answers after it, both with keys and headers; an
announced experiment goes in force only when every arm's solution is here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.sdk.trace import TracerProvider

from services.inference.app import create_app
from services.inference.bootstrap import InferenceDependencies, bootstrap
from services.inference.config import InferenceSettings
from services.inference.solutions import SolutionError, load_solutions
from shared.contracts.events import ExperimentChanged, ShadowArm
from shared.experiments import Arm, Experiment
from tests.fakes import InMemoryAnswers
from tests.unit.inference.test_handlers import embedded, indexed
from tests.unit.inference.test_pipeline import FakeClassifiers, FakeGenerators
from tests.unit.shared.test_experiment_store import InMemoryExperimentStore


def assembled(
    settings: InferenceSettings, store: InMemoryExperimentStore, **ports: Any
) -> partial[Any]:
    """The bootstrap with fakes for every port (a test may give its own retriever)."""
    ports.setdefault("classifiers", FakeClassifiers())
    ports.setdefault("generators", FakeGenerators())
    ports.setdefault("answers", InMemoryAnswers())
    return partial(
        bootstrap,
        settings,
        solutions=load_solutions(settings.solutions_dir),
        tracer=TracerProvider(),
        experiments=store,
        **ports,
    )


async def test_the_assembled_service_answers_live_then_shadow() -> None:
    settings = InferenceSettings(kafka_bootstrap_servers="unused:9092")
    index = await indexed("json dumps serializes objects", "cats purr softly")
    store = InMemoryExperimentStore()
    app = create_app(settings, assemble=assembled(settings, store, retriever=index))
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
    assert [v.version for v in store.versions["retrieval-mode"]] == [1]  # seeded


def change(version: int, *arms: Arm) -> ExperimentChanged:
    return ExperimentChanged(
        tenant="platform",
        name="retrieval-mode",
        version=version,
        experiment=Experiment(arms=arms),
        reason="test",
        actor="cli",
    )


async def test_an_experiment_naming_a_missing_solution_is_refused_and_the_old_one_stays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = InferenceSettings(kafka_bootstrap_servers="unused:9092")
    store = InMemoryExperimentStore()
    built: list[InferenceDependencies] = []

    @asynccontextmanager
    async def recorded() -> AsyncIterator[InferenceDependencies]:
        async with assembled(settings, store, retriever=await indexed("x"))() as deps:
            built.append(deps)
            yield deps

    app = create_app(settings, assemble=recorded)
    broker = app.broker
    assert broker is not None
    dead: list[tuple[bytes, dict[str, str]]] = []

    @broker.subscriber("pillars.experiments.v1.dlq")
    async def dead_letters(body: Any, message: KafkaMessage) -> None:
        dead.append((message.raw_message.value, message.headers))

    good = change(2, Arm(name="router", solution="router"), Arm(name="rag", weight=0))
    bad = change(3, Arm(name="rag"), Arm(name="gpt", solution="no-such-solution"))
    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        [deps] = built
        assert deps.experiment.version == 1  # the seed
        await test_broker.publish(good, "pillars.experiments.v1", key=good.message_key)
        assert (deps.experiment.version, deps.experiment.current) == (2, good.experiment)
        await test_broker.publish(bad, "pillars.experiments.v1", key=bad.message_key)
        assert deps.experiment.version == 2  # the old one stays in force
    [(body, headers)] = dead
    assert b"no-such-solution" in body
    reason = headers["pillars_dlq_reason"]
    assert "'retrieval-mode' v3 refused" in reason
    assert "unknown solutions ['no-such-solution']" in reason
    assert "v2 stays in force" in reason


async def test_a_stored_experiment_naming_a_missing_solution_stops_the_start() -> None:
    settings = InferenceSettings(kafka_bootstrap_servers="unused:9092")
    store = InMemoryExperimentStore()
    await store.write(
        Experiment(arms=(Arm(name="gone", solution="retired"),)), reason="", actor="cli"
    )
    with pytest.raises(SolutionError, match=r"in force \(v1, by cli\) cannot be served.*retired"):
        async with assembled(settings, store, retriever=await indexed("x"))():
            pass


async def test_a_redelivered_request_gets_the_answer_it_first_got() -> None:
    settings = InferenceSettings(kafka_bootstrap_servers="unused:9092")
    index = await indexed("json dumps serializes objects", "cats purr softly")
    answers = InMemoryAnswers()
    store = InMemoryExperimentStore()
    app = create_app(
        settings, assemble=assembled(settings, store, retriever=index, answers=answers)
    )
    broker = app.broker
    assert broker is not None
    seen: list[dict[str, Any]] = []

    @broker.subscriber("pillars.predictions.v1")
    async def out(body: dict[str, Any]) -> None:
        seen.append(body)

    request = embedded("json dumps objects").model_copy(update={"solution": "rag-answerer"})
    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(request, "pillars.requests.embedded.v1", key=request.message_key)
        index.chunks.clear()  # the index changes before the request comes again
        await test_broker.publish(request, "pillars.requests.embedded.v1", key=request.message_key)
    first, again = seen
    assert first == again  # the same event id and the same content, not a new answer
    assert first["answer"] == "json dumps serializes objects"
    assert len(answers.kept) == 1

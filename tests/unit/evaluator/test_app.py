"""The evaluator as assembled by its bootstrap, with fakes, over FastStream's in-memory
broker: a prediction scored and published, an outcome, a query and a shadow answer
recorded, a report published by the leading replica, and a registered model taken up by
the loop."""

import asyncio
from functools import partial

import pytest
from faststream import TestApp
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.evaluator.app import create_app
from services.evaluator.bootstrap import bootstrap
from services.evaluator.config import EvaluatorSettings, LoopModel
from services.evaluator.judge import GeneratorJudge
from services.evaluator.ports import ArmSample
from shared.contracts.events import (
    Evaluation,
    ModelRef,
    ModelRegistered,
    Outcome,
    RequestEmbedded,
    utcnow,
)
from shared.contracts.experiments import Arm, Experiment
from tests.unit.evaluator.fakes import FixedLeadership, FullScoreBook
from tests.unit.evaluator.loop_fakes import (
    FixedLabels,
    InMemoryExperiments,
    InMemoryJournal,
    InMemoryStages,
)
from tests.unit.evaluator.test_handlers import prediction
from tests.unit.evaluator.test_judge import Replying


def loop_ports(**given: object) -> dict[str, object]:
    """The loop's fakes for the bootstrap (so no Postgres opens), each unless given."""
    return {
        "journal": InMemoryJournal(),
        "experiments": InMemoryExperiments(),
        "stages": InMemoryStages(),
        "labels": FixedLabels(),
    } | given


async def test_the_assembled_service_scores_predictions_and_records_outcomes() -> None:
    settings = EvaluatorSettings(kafka_bootstrap_servers="unused:9092")
    book = FullScoreBook()
    leadership = FixedLeadership()
    app = create_app(
        settings,
        assemble=partial(
            bootstrap,
            settings,
            book=book,
            leadership=leadership,
            judge=GeneratorJudge(Replying(" 5")),
            **loop_ports(),
        ),
    )
    broker = app.broker
    assert broker is not None
    seen: list[tuple[dict[str, object], bytes, dict[str, str]]] = []

    @broker.subscriber("pillars.evaluations.v1")
    async def out(body: dict[str, object], message: KafkaMessage) -> None:
        seen.append((body, message.raw_message.key, message.headers))

    made = prediction("r1", [0.8, 0.4])
    outcome = Outcome(
        tenant="acme",
        feedback_id="f1",
        request_id="r1",
        kind="thumbs",
        value="up",
        experiment="e",
        variant="a",
        answer="x",
        prediction_occurred_at=made.occurred_at,
    )
    query = RequestEmbedded(
        tenant="acme",
        request_id="r1",
        query="q",
        experiment="e",
        variant="a",
        query_vector=[0.6, 0.8],
        embedding_model=ModelRef(name="m", version="1"),
        request_occurred_at=utcnow(),
    )
    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(made, "pillars.predictions.v1", key=made.message_key)
        await test_broker.publish(outcome, "pillars.outcomes.v1", key=outcome.message_key)
        await test_broker.publish(query, "pillars.requests.embedded.v1", key=query.message_key)
    [(body, key, headers)] = seen
    assert key == b"acme/r1"
    assert headers["ce_type"] == "dev.pillars.Evaluation.v1"
    assert (body["kind"], body["subject"], body["variant"]) == ("prediction", "r1", "a")
    assert body["retrieval_relevance"] == pytest.approx(0.6)
    assert body["judge_score"] == 1.0
    assert body["variant_predictions"] == 1
    assert set(book.scores) == {("acme", "r1")}
    [recorded] = book.outcomes.values()
    assert (recorded.feedback_id, recorded.kind, recorded.value_number) == ("f1", "thumbs", 1.0)
    assert book.queries[("acme", "r1")][2] == [0.6, 0.8]
    assert leadership.asked == 0  # reports run on a timer, not per message


async def test_the_leading_replica_publishes_its_report_when_the_app_starts() -> None:
    settings = EvaluatorSettings(
        kafka_bootstrap_servers="unused:9092", evaluator_report_interval_s=3600
    )
    book = FullScoreBook(arms=[ArmSample(experiment="e", variant="control", predictions=2)])
    leadership = FixedLeadership(leads=True)
    app = create_app(
        settings,
        assemble=partial(bootstrap, settings, book=book, leadership=leadership, **loop_ports()),
    )
    broker = app.broker
    assert broker is not None
    seen: list[tuple[dict[str, object], bytes, dict[str, str]]] = []
    reported = asyncio.Event()

    @broker.subscriber("pillars.evaluations.v1")
    async def out(body: dict[str, object], message: KafkaMessage) -> None:
        seen.append((body, message.raw_message.key, message.headers))
        if len(seen) == 2:
            reported.set()

    async with TestKafkaBroker(broker), TestApp(app):
        await asyncio.wait_for(reported.wait(), timeout=5)
    assert leadership.asked == 1  # the first round runs at start; the next in an hour
    assert [(b["kind"], b["tenant"], b["variant"]) for b, _, _ in seen] == [
        ("arm_metrics", "platform", "control"),
        ("arm_metrics", "platform", "control"),
    ]
    assert {key for _, key, _ in seen} == {b"platform/e"}
    assert {h["ce_type"] for _, _, h in seen} == {"dev.pillars.Evaluation.v1"}
    assert book.reports == [[Evaluation.model_validate(b) for b, _, _ in seen]]


@pytest.mark.loop
async def test_a_registered_model_is_kept_for_the_loop_and_a_shadow_answer_recorded() -> None:
    settings = EvaluatorSettings(
        kafka_bootstrap_servers="unused:9092",
        loop_models=[LoopModel(name="sentiment", tenant="acme", experiment="e")],
    )
    book, journal = FullScoreBook(), InMemoryJournal()
    app = create_app(
        settings,
        assemble=partial(
            bootstrap,
            settings,
            book=book,
            leadership=FixedLeadership(),
            **loop_ports(journal=journal),
        ),
    )
    broker = app.broker
    assert broker is not None
    registered = ModelRegistered(tenant="acme", model="sentiment", version=2)
    unmanaged = ModelRegistered(tenant="acme", model="other", version=7)
    shadow = prediction("r1", [0.5], variant="shadow-v2").model_copy(update={"shadow": True})
    async with app.lifespan_context(), TestKafkaBroker(broker) as test_broker:
        for event in (registered, unmanaged):
            await test_broker.publish(event, "pillars.models.v1", key=event.message_key)
        await test_broker.publish(shadow, "pillars.predictions.shadow.v1", key=shadow.message_key)
    assert await journal.registrations("sentiment") == [registered]
    assert await journal.registrations("other") == []
    assert list(book.shadows) == [("acme", "r1", "shadow-v2")]
    assert book.scores == {}


@pytest.mark.loop
async def test_the_leading_replica_s_loop_shadows_a_waiting_candidate_when_it_starts() -> None:
    settings = EvaluatorSettings(
        kafka_bootstrap_servers="unused:9092",
        evaluator_report_interval_s=3600,
        loop_interval_s=3600,
        loop_models=[LoopModel(name="sentiment", tenant="acme", experiment="e")],
    )
    journal = InMemoryJournal()
    await journal.keep_registration(
        ModelRegistered(tenant="acme", model="sentiment", version=2, metrics={"holdout_n": 40})
    )
    start = Experiment(name="e", arms=(Arm(name="control", solution="text-classifier"),))
    experiments = InMemoryExperiments(versions={"e": [start]})
    app = create_app(
        settings,
        assemble=partial(
            bootstrap,
            settings,
            book=FullScoreBook(),
            leadership=FixedLeadership(),
            **loop_ports(journal=journal, experiments=experiments),
        ),
    )
    broker = app.broker
    assert broker is not None
    seen: dict[str, list[tuple[dict[str, object], bytes, dict[str, str]]]] = {}
    done = asyncio.Event()

    def collect(topic: str) -> None:
        @broker.subscriber(f"pillars.{topic}.v1")
        async def out(body: dict[str, object], message: KafkaMessage) -> None:
            seen.setdefault(topic, []).append((body, message.raw_message.key, message.headers))
            if len(seen.get("loop", [])) == 2 and "experiments" in seen:
                done.set()

    collect("loop")
    collect("experiments")
    async with TestKafkaBroker(broker), TestApp(app):
        await asyncio.wait_for(done.wait(), timeout=5)
    [(changed, key, headers)] = seen["experiments"]
    assert key == b"platform/e"
    assert headers["ce_type"] == "dev.pillars.ExperimentChanged.v1"
    assert changed["actor"] == "loop"
    assert [a["name"] for a in changed["experiment"]["arms"]] == ["control", "shadow-v2"]  # type: ignore[index]
    steps = [(body["step"], body["candidate_version"]) for body, _, _ in seen["loop"]]
    assert steps == [("trained", 2), ("shadowing", 2)]
    assert {key for _, key, _ in seen["loop"]} == {b"platform/sentiment"}
    assert {h["ce_type"] for _, _, h in seen["loop"]} == {"dev.pillars.LoopDecision.v1"}

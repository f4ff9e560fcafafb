"""The evaluator as assembled by its bootstrap, with fakes, over FastStream's in-memory
broker: a prediction scored and published, an outcome and a query recorded, a report
published by the leading replica."""

import asyncio
from functools import partial

import pytest
from faststream import TestApp
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.evaluator.app import create_app
from services.evaluator.bootstrap import bootstrap
from services.evaluator.config import EvaluatorSettings
from services.evaluator.judge import GeneratorJudge
from services.evaluator.ports import ArmSample
from shared.contracts.events import Evaluation, ModelRef, Outcome, RequestEmbedded, utcnow
from tests.unit.evaluator.fakes import FixedLeadership, FullScoreBook
from tests.unit.evaluator.test_handlers import prediction
from tests.unit.evaluator.test_judge import Replying


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
        settings, assemble=partial(bootstrap, settings, book=book, leadership=leadership)
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

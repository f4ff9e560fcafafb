"""Feedback as assembled by its bootstrap, with a fake ledger, over FastStream's in-memory
broker: predictions remembered, feedback joined into outcomes, reviews off the queue, and
the HTTP API publishing what it accepts once the app runs."""

import uuid
from functools import partial

import httpx
from faststream import FastStream
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.feedback.app import create_app
from services.feedback.bootstrap import bootstrap
from services.feedback.config import FeedbackSettings
from shared.contracts.events import (
    Feedback,
    ModelRef,
    Prediction,
    RetrievedChunk,
    ReviewVerdict,
    utcnow,
)
from shared.platform.runtime.host import free_port
from tests.fakes import InMemoryLedger, InMemoryPark
from tests.unit.feedback.fakes import RecordedLabels

MODEL = ModelRef(name="m", version="1")
TOKEN = "t0ken"
Seen = list[tuple[dict[str, object], bytes, dict[str, str]]]


def unsure_prediction(request_id: str) -> Prediction:
    """Return a prediction whose best passage scores below the review bar (0.5)."""
    return Prediction(
        tenant="acme",
        request_id=request_id,
        query="q?",
        experiment="e",
        variant="a",
        answer="x",
        sources=[RetrievedChunk(chunk_id=uuid.uuid4(), document_id="d", text="t", score=0.3)],
        model=MODEL,
        embedding_model=MODEL,
        request_occurred_at=utcnow(),
        stages=[],
    )


def assembled(
    settings: FeedbackSettings, ledger: InMemoryLedger, labels: RecordedLabels | None = None
) -> tuple[FastStream, KafkaBroker, Seen]:
    """Return the app assembled with `ledger` and `labels`, its broker, and the outcomes it
    publishes."""
    labels = labels or RecordedLabels()
    park = InMemoryPark()
    app = create_app(
        settings, assemble=partial(bootstrap, settings, ledger=ledger, labels=labels, park=park)
    )
    assert isinstance(app.broker, KafkaBroker)
    outcomes: Seen = []

    @app.broker.subscriber("pillars.outcomes.v1")
    async def out(body: dict[str, object], message: KafkaMessage) -> None:
        outcomes.append((body, message.raw_message.key, message.headers))

    return app, app.broker, outcomes


async def test_the_assembled_service_joins_feedback_and_takes_reviews_off_the_queue() -> None:
    settings = FeedbackSettings(
        kafka_bootstrap_servers="unused:9092", feedback_http_port=None, feedback_wait_s=0
    )
    ledger, labels = InMemoryLedger(), RecordedLabels()
    app, kafka, outcomes = assembled(settings, ledger, labels)
    async with app.lifespan_context(), TestKafkaBroker(kafka) as broker:
        prediction = unsure_prediction("r1")
        await broker.publish(prediction, "pillars.predictions.v1", key=prediction.message_key)
        [known] = await ledger.review_queue(10)
        assert known.review_reason == "low confidence: best passage scores 0.30 < 0.5"
        verdict = ReviewVerdict(verdict="incorrect", relevance=2)
        review = Feedback(
            tenant="acme", feedback_id="f1", request_id="r1", kind="review", review=verdict
        )
        await broker.publish(review, "pillars.feedback.v1", key=review.message_key)
        label = Feedback(
            tenant="acme", feedback_id="f2", request_id="r1", kind="label", value="plot"
        )
        await broker.publish(label, "pillars.feedback.v1", key=label.message_key)
    (body, key, headers), (labelled, _, _) = outcomes
    assert labelled["kind"] == "label"
    # An incorrect verdict without a correction names no label; the label feedback does.
    [row] = labels.rows.values()
    assert (row.tenant, row.dataset, row.request_id, row.text, row.label) == (
        "acme",
        "feedback",
        "r1",
        "q?",
        "plot",
    )
    assert (body["request_id"], body["kind"], body["experiment"], body["variant"]) == (
        "r1",
        "review",
        "e",
        "a",
    )
    assert body["review"] == {
        "verdict": "incorrect",
        "relevance": 2,
        "correction": None,
        "reviewer": None,
    }
    assert key == b"acme/r1"
    assert headers["ce_type"] == "dev.pillars.Outcome.v1"
    # The prediction's trace (the broker's telemetry writes its `traceparent`) is kept.
    assert (ledger.known[("acme", "r1")].traceparent or "").startswith("00-")
    assert await ledger.review_queue(10) == []  # the verdict took it off the queue


async def test_the_http_api_publishes_accepted_feedback_once_the_app_runs() -> None:
    port = free_port()
    settings = FeedbackSettings(
        kafka_bootstrap_servers="unused:9092",
        feedback_http_port=port,
        feedback_tokens=[TOKEN],
        feedback_wait_s=0,
    )
    ledger = InMemoryLedger()
    app, kafka, outcomes = assembled(settings, ledger)
    async with app.lifespan_context(), TestKafkaBroker(kafka) as broker:
        prediction = unsure_prediction("r2")
        await broker.publish(prediction, "pillars.predictions.v1", key=prediction.message_key)
        await app.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                auth = {"Authorization": f"Bearer {TOKEN}"}
                queue = await http.get("/v1/review/queue", headers=auth)
                click = {"tenant": "acme", "feedback_id": "f2", "request_id": "r2", "kind": "click"}
                accepted = await http.post("/v1/feedback", json=click, headers=auth)
        finally:
            await app.stop()
    assert [item["request_id"] for item in queue.json()["items"]] == ["r2"]
    assert (accepted.status_code, accepted.json()) == (
        202,
        {"status": "accepted", "feedback_id": "f2"},
    )
    [(body, key, headers)] = outcomes
    assert (body["request_id"], body["kind"]) == ("r2", "click")
    assert key == b"acme/r2"
    assert headers["ce_type"] == "dev.pillars.Outcome.v1"

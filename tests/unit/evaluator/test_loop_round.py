"""A round of the loop with fakes at its ports: what it asks of the trainer, the experiment
versions it writes and announces, the registry stages it moves, the evaluation it links,
and the steps it records and publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.evaluator.config import EvaluatorSettings, LoopModel
from services.evaluator.loop.rounds import LoopRunner, keep_registration, loop_if_leading
from services.evaluator.ports import ArmSample
from services.evaluator.sequential import SequentialTest
from shared.contracts.events import (
    Evaluation,
    Event,
    ExperimentChanged,
    LoopDecision,
    ModelRegistered,
    TrainingRequested,
)
from shared.contracts.experiments import Arm, Experiment
from shared.contracts.topics import Topic
from tests.unit.evaluator.fakes import FixedLeadership, FullScoreBook
from tests.unit.evaluator.loop_fakes import (
    FixedLabels,
    InMemoryExperiments,
    InMemoryJournal,
    InMemoryStages,
    ports,
)

pytestmark = pytest.mark.loop

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MODEL = LoopModel(name="sentiment", tenant="acme", experiment="reviews")
START = Experiment(
    name="reviews", unit="request_id", arms=(Arm(name="control", solution="text-classifier"),)
)
SETTINGS = EvaluatorSettings(
    kafka_bootstrap_servers="unused:9092",
    loop_models=[MODEL],
    loop_new_labels=100,
    loop_shadow_labels=50,
    ab_min_samples=50,
)


class Outbox:
    """Records what the round publishes, by topic."""

    def __init__(self) -> None:
        self.sent: list[tuple[Topic, Event]] = []

    async def __call__(self, topic: Topic, event: Event) -> None:
        self.sent.append((topic, event))

    def on(self, topic: Topic) -> list[Event]:
        return [event for t, event in self.sent if t == topic]


def runner(
    *,
    book: FullScoreBook | None = None,
    journal: InMemoryJournal | None = None,
    experiments: InMemoryExperiments | None = None,
    stages: InMemoryStages | None = None,
    labels: FixedLabels | None = None,
    settings: EvaluatorSettings = SETTINGS,
) -> LoopRunner:
    loop = LoopRunner.of(
        settings,
        ports=ports(journal, experiments, stages, labels),
        book=book or FullScoreBook(),
        test=SequentialTest(min_samples=50),
    )
    return LoopRunner(**{**loop.__dict__, "clock": lambda: NOW})


def labelled(variant: str, n: int, right: int, **fields: object) -> ArmSample:
    pairs = {("fresh", "fresh"): right, ("fresh", "rotten"): n - right}
    values: dict[str, object] = {"latency_p99_ms": 40.0} | fields
    return ArmSample(
        experiment="reviews",
        variant=variant,
        predictions=n,
        label_pairs=pairs,
        **values,  # type: ignore[arg-type]
    )


def challenge_under_way(share: float, figures: dict[str, float]) -> tuple[Experiment, LoopDecision]:
    """Return an experiment whose challenger-v2 takes `share`, and the step that began it."""
    challenged = Experiment(
        name="reviews",
        unit="request_id",
        arms=(
            Arm(name="control", weight=1 - share, solution="text-classifier"),
            Arm(name="challenger-v2", weight=share, solution="text-classifier", model_version=2),
        ),
    )
    started = LoopDecision(
        tenant="platform",
        occurred_at=NOW - timedelta(hours=1),
        model="sentiment",
        step="challenging",
        candidate_version=2,
        reason="",
        figures=figures,
    )
    return challenged, started


async def test_enough_new_labels_ask_the_trainer_and_the_step_is_recorded() -> None:
    journal, labels, outbox = InMemoryJournal(), FixedLabels(count=150), Outbox()
    [decision] = await runner(journal=journal, labels=labels).round(outbox)
    assert labels.asked == [("acme", "feedback", None)]  # never trained: every label counts
    [request] = outbox.on(Topic.TRAINING)
    assert isinstance(request, TrainingRequested)
    assert (request.tenant, request.model, request.kind, request.dataset) == (
        "acme",
        "sentiment",
        "logreg",
        "feedback",
    )
    assert request.labels_until == NOW
    assert "150 new labels" in request.reason
    assert outbox.on(Topic.LOOP) == [decision] == journal.steps
    assert decision.step == "triggered"


async def test_a_registered_candidate_that_passes_the_gate_gets_a_shadow_arm() -> None:
    journal = InMemoryJournal(steps=[])
    experiments = InMemoryExperiments(versions={"reviews": [START]})
    stages = InMemoryStages(stages={("sentiment", 1): "production"})
    outbox = Outbox()
    loop = runner(journal=journal, experiments=experiments, stages=stages)
    registration = ModelRegistered(
        tenant="acme",
        model="sentiment",
        version=2,
        training_data="labels feedback of tenant acme: 400 rows",
        metrics={
            "holdout_n": 80.0,
            "candidate_macro_f1": 0.82,
            "production_macro_f1": 0.8,
            "macro_f1_delta_low": -0.03,
            "macro_f1_delta_high": 0.07,
        },
    )
    await keep_registration(registration, loop=loop)
    await keep_registration(registration.model_copy(update={"model": "other"}), loop=loop)
    assert list(journal.waiting) == [registration.event_id]  # only managed models are kept
    steps = await loop.round(outbox)
    assert [(d.step, d.candidate_version, d.production_version) for d in steps] == [
        ("trained", 2, 1),
        ("shadowing", 2, 1),
    ]
    [announced] = outbox.on(Topic.EXPERIMENTS)
    assert isinstance(announced, ExperimentChanged)
    assert (announced.name, announced.version, announced.actor) == ("reviews", 2, "loop")
    shadow = announced.experiment.arm("shadow-v2")
    assert shadow is not None
    assert shadow.shadow
    assert shadow.model_version == 2
    assert experiments.versions["reviews"][-1] == announced.experiment
    assert outbox.on(Topic.LOOP) == steps == journal.steps
    assert journal.done == {registration.event_id}
    assert await loop.round(outbox) == []  # dealt with: nothing again


async def test_a_winning_challenger_is_promoted_and_the_deciding_evaluation_published() -> None:
    challenged, started = challenge_under_way(
        0.5, {"step": 1.0, "share": 0.5, "challenger_labelled": 100.0}
    )
    book = FullScoreBook(arms=[labelled("control", 400, 280), labelled("challenger-v2", 400, 380)])
    journal = InMemoryJournal(steps=[started])
    experiments = InMemoryExperiments(versions={"reviews": [challenged]})
    stages = InMemoryStages(stages={("sentiment", 1): "production", ("sentiment", 2): "candidate"})
    outbox = Outbox()
    loop = runner(book=book, journal=journal, experiments=experiments, stages=stages)
    [decision] = await loop.round(outbox)
    assert (decision.step, decision.candidate_version) == ("promoted", 2)
    assert stages.stages == {("sentiment", 1): "archived", ("sentiment", 2): "production"}
    [evaluation] = outbox.on(Topic.EVALUATIONS)
    assert isinstance(evaluation, Evaluation)
    assert evaluation.event_id == decision.evaluation_id
    assert evaluation.verdict is not None
    assert evaluation.verdict.winner == "challenger-v2"
    assert (evaluation.kind, evaluation.experiment) == ("ab_decision", "reviews")
    assert book.reports == [[evaluation]]
    assert decision.figures["p_value"] == evaluation.verdict.p_value
    [announced] = outbox.on(Topic.EXPERIMENTS)
    assert isinstance(announced, ExperimentChanged)
    assert [(a.name, a.weight, a.model_version) for a in announced.experiment.arms] == [
        ("control", 1.0, None)
    ]
    # Every inference replica hears of the new production version on `models`.
    [production] = outbox.on(Topic.MODELS)
    assert isinstance(production, ModelRegistered)
    assert (production.model, production.version) == ("sentiment", 2)
    assert production.stage == "production"
    assert production.metrics["challenger_accuracy"] == pytest.approx(0.95)
    # The always-valid p-value of the loop's own comparison persists, apart from the reports'.
    assert ("reviews", "loop:accuracy", "control", "challenger-v2") in book.p_values


async def test_a_guardrail_breach_takes_the_challenger_off_and_archives_it() -> None:
    challenged, started = challenge_under_way(0.1, {"step": 0.0, "share": 0.1})
    book = FullScoreBook(
        arms=[
            labelled("control", 400, 300),
            labelled("challenger-v2", 60, 45, latency_p99_ms=900.0),
        ]
    )
    experiments = InMemoryExperiments(versions={"reviews": [challenged]})
    stages = InMemoryStages(stages={("sentiment", 1): "production", ("sentiment", 2): "candidate"})
    outbox = Outbox()
    loop = runner(
        book=book, journal=InMemoryJournal(steps=[started]), experiments=experiments, stages=stages
    )
    [decision] = await loop.round(outbox)
    assert decision.step == "rolled_back"
    assert "p99 latency 900 ms" in decision.reason
    assert stages.moves == [("sentiment", 2, "archived")]
    [announced] = outbox.on(Topic.EXPERIMENTS)
    assert isinstance(announced, ExperimentChanged)
    assert [(a.name, a.weight) for a in announced.experiment.arms] == [("control", 1.0)]
    assert "rolled_back" in experiments.reasons[-1]


async def test_one_model_s_trouble_does_not_stop_the_others() -> None:
    broken = LoopModel(name="broken", tenant="acme", experiment="missing")
    settings = SETTINGS.model_copy(update={"loop_models": [broken, MODEL]})
    journal = InMemoryJournal(
        steps=[
            LoopDecision(
                tenant="platform",
                occurred_at=NOW,
                model=name,
                step="trained",
                candidate_version=2,
                reason="",
            )
            for name in ("broken", "sentiment")
        ]
    )
    for name in ("broken", "sentiment"):
        await journal.keep_registration(
            ModelRegistered(tenant="acme", model=name, version=2, metrics={})
        )
    experiments = InMemoryExperiments(versions={"reviews": [START]})
    outbox = Outbox()
    steps = await runner(journal=journal, experiments=experiments, settings=settings).round(outbox)
    # "missing" has no experiment in the store: that model waits, the other moves on.
    assert [(d.model, d.step) for d in steps] == [
        ("sentiment", "trained"),
        ("sentiment", "shadowing"),
    ]
    assert await journal.registrations("broken") != []  # kept for the next round


async def test_only_the_leading_replica_runs_the_loop() -> None:
    outbox = Outbox()
    loop = runner(labels=FixedLabels(count=1000))
    assert (
        await loop_if_leading(leadership=FixedLeadership(leads=False), loop=loop, publish=outbox)
        == []
    )
    assert outbox.sent == []
    taken = await loop_if_leading(leadership=FixedLeadership(leads=True), loop=loop, publish=outbox)
    assert [d.step for d in taken] == ["triggered"]

"""The evaluator's loop on the real broker and database: a candidate registered with
passing offline metrics is gated by the next round, and its experiment gains a shadow arm
(a new version in Postgres, announced on `experiments`) and the step lands on `loop`."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from services.evaluator.app import create_app
from services.evaluator.config import EvaluatorSettings, LoopModel
from shared.contracts.events import (
    Event,
    ExperimentChanged,
    LoopDecision,
    ModelRegistered,
    TrainingRequested,
)
from shared.contracts.experiments import Arm, Experiment
from shared.contracts.topics import Topic
from shared.experiment_store import PgExperimentStore
from shared.models.pg_registry import PgModelRegistry
from shared.models.registry import ModelRecord
from shared.models.training import train_classifier
from shared.platform.cli import main
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints

pytestmark = pytest.mark.loop


async def register(registry: PgModelRegistry, name: str, out_dir: Path, seed: int) -> int:
    """Register a small logistic regression over random vectors; return its version."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(80, 8)).astype(np.float32)
    labels = ["fresh" if v[0] > 0 else "rotten" for v in vectors]
    trained = train_classifier(vectors, labels, kind="logreg", out_dir=out_dir, seed=seed)
    record = await registry.register(
        ModelRecord(
            name=name,
            version=0,
            artifact=str(trained.artifact),
            format=trained.format,
            licence="test",
            training_data=f"random vectors, seed {seed}",
            metrics=trained.metrics,
            labels=trained.labels,
        )
    )
    return record.version


async def test_a_candidate_that_passes_the_gate_is_shadowed_on_its_experiment(
    endpoints: Endpoints,
    client: PillarsClient,
    pool: asyncpg.Pool,
    tenant: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    suffix = uuid.uuid4().hex[:10]
    name, experiment = f"loop-model-{suffix}", f"loop-exp-{suffix}"
    store = PgExperimentStore(pool)
    await store.create_schema()
    seeded = await store.write(
        Experiment(
            name=experiment,
            unit="request_id",
            arms=(Arm(name="control", solution="text-classifier"),),
        ),
        reason="seeded by the test",
        actor="test",
    )
    registry = PgModelRegistry(pool)
    await registry.create_schema()
    production = await register(registry, name, tmp_path / "v1", seed=1)
    await registry.promote(name, production, "production")
    candidate = await register(registry, name, tmp_path / "v2", seed=2)
    settings = EvaluatorSettings(
        kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers,
        database_url=endpoints.database_url,
        evaluator_report_interval_s=3600,
        loop_interval_s=0.5,
        loop_models=[LoopModel(name=name, tenant=tenant, experiment=experiment)],
    )
    experiments = await client.watch(Topic.EXPERIMENTS)
    steps = await client.watch(Topic.LOOP)
    app = create_app(settings)
    assert app.broker is not None
    async with app.lifespan_context():  # what `app.run()` does, without the signals
        await app.start()
        try:
            await client.publish(
                Topic.MODELS,
                ModelRegistered(
                    tenant=tenant,
                    model=name,
                    version=candidate,
                    training_data="labels feedback of the test",
                    metrics={
                        "holdout_n": 40.0,
                        "train_n": 160.0,
                        "candidate_macro_f1": 0.81,
                        "production_macro_f1": 0.8,
                        "macro_f1_delta": 0.01,
                        "macro_f1_delta_low": -0.04,
                        "macro_f1_delta_high": 0.06,
                    },
                ),
            )

            def mine(events: list[Event]) -> list[LoopDecision]:
                return [e for e in events if isinstance(e, LoopDecision) and e.model == name]

            got = await steps.collect(
                lambda events: any(d.step == "shadowing" for d in mine(events)), timeout_s=60
            )
            announced = await experiments.collect(
                lambda events: any(
                    isinstance(e, ExperimentChanged) and e.name == experiment for e in events
                ),
                timeout_s=30,
            )
        finally:
            await app.stop()
            await experiments.stop()
            await steps.stop()
    assert [(d.step, d.candidate_version, d.production_version) for d in mine(got)] == [
        ("trained", candidate, production),
        ("shadowing", candidate, production),
    ]
    assert "not worse beyond the margin" in mine(got)[-1].reason
    current = await store.current(experiment)
    assert current is not None
    assert (current.version, current.actor) == (seeded.version + 1, "loop")
    shadow = current.experiment.arm(f"shadow-v{candidate}")
    assert shadow is not None
    assert (shadow.shadow, shadow.model_version, shadow.solution) == (
        True,
        candidate,
        "text-classifier",
    )
    [change] = [e for e in announced if isinstance(e, ExperimentChanged) and e.name == experiment]
    assert (change.version, change.experiment) == (current.version, current.experiment)
    recorded = await pool.fetch(
        "SELECT step, candidate_version FROM evaluator_loop_steps WHERE model = $1 ORDER BY id",
        name,
    )
    assert [(r["step"], r["candidate_version"]) for r in recorded] == [
        ("trained", candidate),
        ("shadowing", candidate),
    ]
    assert (await registry.get(name, candidate)).stage == "candidate"  # shadows stay candidates

    # What people see, and a training asked for by hand (tenant and kind from the loop's
    # configuration, which the evaluator stored).
    monkeypatch.setenv("PILLARS_KAFKA_BOOTSTRAP_SERVERS", endpoints.kafka_bootstrap_servers)
    monkeypatch.setenv("PILLARS_DATABASE_URL", endpoints.database_url)
    assert await asyncio.to_thread(main, ["loop", "status", name]) == 0
    status = capsys.readouterr().out
    assert f"model {name}: logreg on tenant {tenant}'s labels" in status
    assert f"now: shadowing v{candidate}" in status
    assert f"v{production}   production trained on random vectors, seed 1" in status
    assert "offline gate passed" in status
    page = tmp_path / "report.html"
    assert await asyncio.to_thread(main, ["report", "--out", str(page)]) == 0
    report = capsys.readouterr().out
    assert "loop (every step, oldest first):" in report
    assert name in report
    assert "<section data-loop>" in page.read_text()
    trainings = await client.watch(Topic.TRAINING)
    try:
        assert await asyncio.to_thread(main, ["retrain", name]) == 0
        asked = await trainings.collect(
            lambda events: any(
                isinstance(e, TrainingRequested) and e.model == name for e in events
            ),
            timeout_s=30,
        )
    finally:
        await trainings.stop()
    [request] = [e for e in asked if isinstance(e, TrainingRequested) and e.model == name]
    assert (request.tenant, request.kind, request.dataset) == (tenant, "logreg", "feedback")
    assert await asyncio.to_thread(main, ["retrain", "nobody-manages-this"]) == 2
    assert "not managed by the loop" in capsys.readouterr().err


async def test_a_shadow_arm_is_scored_against_the_true_labels_of_the_live_requests(
    pool: asyncpg.Pool, tenant: str
) -> None:
    from services.evaluator.adapters.pg_loop_journal import PgLoopJournal
    from services.evaluator.adapters.pg_score_book import PgScoreBook
    from services.evaluator.handlers import evaluate_prediction, record_outcome, record_shadow
    from shared.contracts.events import Outcome, utcnow
    from tests.unit.evaluator.test_handlers import prediction

    book = PgScoreBook(pool)
    await book.create_schema()
    experiment = f"shadowed-{uuid.uuid4().hex[:8]}"
    for i, (truth, live, shadow) in enumerate(
        [("fresh", "fresh", "fresh"), ("rotten", "fresh", "rotten"), ("rotten", "rotten", "fresh")]
    ):
        made = prediction(f"r{i}", [0.5]).model_copy(
            update={
                "tenant": tenant,
                "experiment": experiment,
                "variant": "control",
                "answer": live,
            }
        )
        await evaluate_prediction(made, book=book)
        shadowed = made.model_copy(
            update={"variant": "shadow-v2", "answer": shadow, "shadow": True}
        )
        assert await record_shadow(shadowed, book=book)
        assert not await record_shadow(shadowed, book=book)  # a replay counts once
        for kind, value in (("label", truth), ("click", None)):
            await record_outcome(
                Outcome(
                    tenant=tenant,
                    feedback_id=f"{kind}-{i}",
                    request_id=f"r{i}",
                    kind=kind,
                    value=value,
                    experiment=experiment,
                    variant="control",
                    answer=live,
                    prediction_occurred_at=made.occurred_at,
                ),
                book=book,
            )
    arms = {s.variant: s for s in await book.arm_samples(None) if s.experiment == experiment}
    assert (arms["control"].shadow, arms["shadow-v2"].shadow) == (False, True)
    assert arms["control"].label_pairs == {
        ("fresh", "fresh"): 1,
        ("rotten", "fresh"): 1,
        ("rotten", "rotten"): 1,
    }
    assert arms["shadow-v2"].label_pairs == {
        ("fresh", "fresh"): 1,
        ("rotten", "rotten"): 1,
        ("rotten", "fresh"): 1,
    }
    assert (arms["control"].clicked, arms["shadow-v2"].clicked) == (3, 0)  # nobody saw it
    assert arms["shadow-v2"].predictions == 3

    journal = PgLoopJournal(pool)
    await journal.create_schema()
    registration = ModelRegistered(tenant=tenant, model=f"m-{experiment}", version=3)
    assert await journal.keep_registration(registration)
    assert not await journal.keep_registration(registration)
    assert await journal.registrations(registration.model) == [registration]
    await journal.dealt_with([registration.event_id])
    assert await journal.registrations(registration.model) == []
    step = LoopDecision(
        tenant="platform",
        model=registration.model,
        step="triggered",
        reason="test",
        occurred_at=utcnow(),
    )
    await journal.record(step)
    await journal.record(step)  # once per event id
    assert await journal.decisions(registration.model) == [step]

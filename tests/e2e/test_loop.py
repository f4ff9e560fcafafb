"""The loop on the real platform (`pytest -m loop`): nothing mocked.

`pillars up` runs with three loop-managed classifiers, each a weak production model trained
on 10 Rotten Tomatoes snippets, each the production arm of one experiment that the test
moves traffic between with `pillars experiment promote`. Requests stream from the rest of
the snippets, each answer's true label sent back as `label` feedback:

- true labels: the loop retrains, shadows, challenges and promotes on its own, and then
  the new version answers, with no restart;
- shuffled labels: a candidate is trained from them, and nothing is promoted;
- a candidate made slow (`PILLARS_TEST_MODEL_DELAYS_MS`, test only): the latency guardrail
  rolls it back.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import asyncpg
import numpy as np
import pytest

from services.inference.config import CATALOG
from shared.contracts.experiments import Arm, Experiment
from shared.encoders import EncoderSettings, load_encoder
from shared.kit.settings import PillarsSettings
from shared.models.pg_registry import PgModelRegistry
from shared.models.registry import ModelRecord
from shared.models.training import train_classifier
from shared.platform.client import PillarsClient
from shared.platform.labelled import LabelledText, rotten_tomatoes
from tests.e2e.conftest import RunningPlatform, pillars_up
from tests.e2e.loop_traffic import LoopRun, stream

pytestmark = pytest.mark.loop


@dataclass(frozen=True)
class Managed:
    """One loop-managed classifier: its arm, solution, registry name and tenant."""

    arm: str

    @property
    def model(self) -> str:
        return f"sentiment-{self.arm}"

    @property
    def solution(self) -> str:
        return f"classify-{self.arm}"

    @property
    def tenant(self) -> str:
        return f"loop-{self.arm}"


LEARN, SHUFFLED, SLOW = Managed("learn"), Managed("shuffled"), Managed("slow")
MANAGED = (LEARN, SHUFFLED, SLOW)
SLOW_MS = 200.0  # each answer of the slow candidate waits this long
EXPERIMENT = Experiment(
    name="loop-e2e",
    salt="loop-1",
    unit="request_id",
    arms=tuple(
        Arm(name=m.arm, weight=1.0 if m is SLOW else 0.0, solution=m.solution) for m in MANAGED
    ),
)


def snippets() -> list[LabelledText]:
    rows = [
        r for r in rotten_tomatoes(PillarsSettings().data_dir / "datasets") if r.label != "plot"
    ]
    random.Random(11).shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def loop_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """`pillars up` with the three classifiers' solutions, the loop managing them, its
    thresholds small enough for a few thousand requests."""
    solutions = tmp_path_factory.mktemp("loop-solutions")
    shutil.copytree(CATALOG, solutions, dirs_exist_ok=True)
    for m in MANAGED:
        (solutions / f"{m.solution}.yaml").write_text(
            f"name: {m.solution}\nversion: '1'\ndescription: {m.model}\n"
            f"classifier:\n  model: {m.model}\n"
        )
    models = [
        {
            "name": m.model,
            "tenant": m.tenant,
            "solution": m.solution,
            "experiment": EXPERIMENT.name,
            "production_arm": m.arm,
        }
        for m in MANAGED
    ]
    env = {
        "PILLARS_DASHBOARD": "none",  # no trace is read here; the dashboard took a core's quarter
        "PILLARS_SOLUTIONS_DIR": str(solutions),
        "PILLARS_EXPERIMENT": EXPERIMENT.model_dump_json(),
        "PILLARS_LOOP_MODELS": json.dumps(models),
        "PILLARS_LOOP_INTERVAL_S": "1",
        "PILLARS_EVALUATOR_REPORT_INTERVAL_S": "2",
        "PILLARS_LOOP_NEW_LABELS": "200",
        "PILLARS_LOOP_RETRAIN_MIN_LABELS": "80",
        "PILLARS_LOOP_SHADOW_LABELS": "30",
        "PILLARS_LOOP_CHALLENGER_STEPS": "[0.3, 0.5]",
        "PILLARS_LOOP_STEP_MIN_LABELS": "40",
        "PILLARS_LOOP_GUARDRAIL_MIN_PREDICTIONS": "20",
        "PILLARS_LOOP_MAX_LABELS": "3000",
        "PILLARS_LOOP_COOLDOWN_S": "0",
        "PILLARS_AB_MIN_SAMPLES": "100",
        "PILLARS_AB_RELATIVE_EFFECT": "0.2",  # what a weak model's retraining should gain
        "PILLARS_SCALER_MAX_REPLICAS": "1",  # not under test here: no rebalances
        "PILLARS_TEST_MODEL_DELAYS_MS": json.dumps({f"{SLOW.model}:2": SLOW_MS}),
    }
    with pillars_up(tmp_path_factory.mktemp("loop-up"), env) as running:
        yield running


@pytest.fixture(scope="module")
async def weak_models(loop_platform: RunningPlatform) -> list[LabelledText]:
    """Register each managed name's production v1, trained on the same 10 snippets (five
    of each label); return the snippets that were not."""
    rows = snippets()
    seed = [r for r in rows if r.label == "fresh"][:5] + [r for r in rows if r.label == "rotten"][
        :5
    ]
    rest = [r for r in rows if r not in seed]
    encoder = load_encoder(EncoderSettings())
    encoded = await asyncio.to_thread(encoder.encode_sync, [r.text for r in seed])
    vectors = np.asarray(encoded, dtype=np.float32)
    pool = await asyncpg.create_pool(loop_platform.endpoints.database_url, min_size=1, max_size=2)
    try:
        registry = PgModelRegistry(pool)
        await registry.create_schema()
        for m in MANAGED:
            out = loop_platform.data_dir / "models" / m.model / "v1"
            trained = train_classifier(
                vectors, [r.label for r in seed], kind="logreg", out_dir=out, seed=0
            )
            record = await registry.register(
                ModelRecord(
                    name=m.model,
                    version=0,
                    artifact=str(trained.artifact),
                    format=trained.format,
                    licence="research-use",
                    training_data="10 Rotten Tomatoes snippets",
                    metrics=trained.metrics,
                    labels=trained.labels,
                )
            )
            await registry.promote(m.model, record.version, "production")
    finally:
        await pool.close()
    return rest


@pytest.fixture
async def loop_client(loop_platform: RunningPlatform) -> AsyncIterator[PillarsClient]:
    bootstrap = loop_platform.endpoints.kafka_bootstrap_servers
    async with PillarsClient(bootstrap, source="/tests/loop") as client:
        yield client


async def traffic_to(platform: RunningPlatform, managed: Managed) -> None:
    result = await asyncio.to_thread(
        platform.cli, "experiment", "promote", managed.arm, "--reason", "the loop e2e test"
    )
    assert result.returncode == 0, result.stderr[-2000:]


def ended(run: LoopRun, *steps: str) -> bool:
    return any(step in steps for step in run.taken())


def candidate_ended(run: LoopRun) -> bool:
    """Whether the candidate's way ended: promoted, archived, rejected or rolled back."""
    return ended(run, "rolled_back", "archived", "rejected_offline", "promoted")


async def feed(
    client: PillarsClient,
    managed: Managed,
    rows: list[LabelledText],
    *,
    until: Callable[[LoopRun], bool],
    timeout_s: float,
    labels: list[str] | None = None,
) -> LoopRun:
    """Stream `rows` as `managed`'s tenant's requests, `labels` (else the true ones) back."""
    truth = labels if labels is not None else [r.label for r in rows]
    return await stream(
        client,
        tenant=managed.tenant,
        model=managed.model,
        rows=rows,
        labels=truth,
        until=until,
        timeout_s=timeout_s,
    )


async def test_a_slow_candidate_is_rolled_back_by_the_latency_guardrail(
    loop_platform: RunningPlatform, weak_models: list[LabelledText], loop_client: PillarsClient
) -> None:
    rows = weak_models[:1500]
    run = await feed(loop_client, SLOW, rows, until=candidate_ended, timeout_s=300)
    assert run.taken()[-1] == "rolled_back", run.describe()
    assert "challenging" in run.taken(), run.describe()
    rollback = run.steps[-1]
    assert "p99 serving time" in rollback.reason, run.describe()
    assert rollback.figures["challenger_serving_p99_ms"] >= SLOW_MS
    shown = await asyncio.to_thread(loop_platform.cli, "loop", "status", SLOW.model)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "rolled back" in shown.stdout, shown.stdout
    assert "p99 serving time" in shown.stdout, shown.stdout


async def test_true_labels_retrain_and_the_loop_promotes_with_no_restart(
    loop_platform: RunningPlatform, weak_models: list[LabelledText], loop_client: PillarsClient
) -> None:
    await traffic_to(loop_platform, LEARN)
    rows = weak_models[1500:5500]
    pids = {p.pid for p in loop_platform.services}
    run = await feed(loop_client, LEARN, rows, until=candidate_ended, timeout_s=420)
    assert run.taken()[-1] == "promoted", run.describe()
    assert run.taken()[:4] == ["triggered", "trained", "shadowing", "challenging"], run.describe()
    promoted = run.steps[-1]
    assert promoted.evaluation_id is not None
    assert promoted.figures["p_value"] < 0.05
    version = str(promoted.candidate_version)
    after = await feed(
        loop_client, LEARN, rows[-200:], until=lambda run: len(run.answered_by) >= 30, timeout_s=120
    )
    assert set(after.answered_by[-20:]) == {version}, after.answered_by
    assert {p.pid for p in loop_platform.services if p.is_running()} == pids  # no restart


async def test_shuffled_labels_end_with_no_promotion(
    loop_platform: RunningPlatform, weak_models: list[LabelledText], loop_client: PillarsClient
) -> None:
    await traffic_to(loop_platform, SHUFFLED)
    rows = weak_models[5500:7000]
    labels = [r.label for r in rows]
    random.Random(5).shuffle(labels)
    run = await feed(
        loop_client,
        SHUFFLED,
        rows,
        labels=labels,
        until=lambda run: (
            run.sent >= 500
            and ended(run, "rejected_offline", "challenging", "archived", "rolled_back")
        ),
        timeout_s=360,
    )
    assert "trained" in run.taken(), run.describe()
    assert "promoted" not in run.taken(), run.describe()

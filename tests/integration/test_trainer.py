"""The trainer on the real broker and database: labels read from Postgres become a
registered, admitted candidate announced on `models`; feedback becomes labels there."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from services.feedback.adapters.pg_ledger import PgPredictionLedger
from services.feedback.handlers import record_feedback, remember_prediction
from services.trainer.app import create_app
from services.trainer.config import TrainerSettings
from shared.contracts.events import Feedback, ModelRegistered, TrainingRequested, derived_id
from shared.contracts.topics import Topic
from shared.labels import PgLabelStore
from shared.models.pg_registry import PgModelRegistry
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints
from tests.fakes import InMemoryPark
from tests.unit.evaluator.test_handlers import prediction
from tests.unit.trainer.fakes import synthetic_rows

pytestmark = pytest.mark.loop


async def answer_to(client: PillarsClient, request: TrainingRequested) -> ModelRegistered:
    """Publish `request` and return the ModelRegistered that answers it."""
    watch = await client.watch(Topic.MODELS)
    try:
        await client.publish(Topic.TRAINING, request)
        events = await watch.collect(
            lambda seen: any(
                isinstance(e, ModelRegistered) and e.requested_by == request.event_id for e in seen
            ),
            timeout_s=60,
        )
    finally:
        await watch.stop()
    [answer] = [
        e for e in events if isinstance(e, ModelRegistered) and e.requested_by == request.event_id
    ]
    return answer


@pytest.fixture(scope="module")
async def trainer(
    endpoints: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TrainerSettings]:
    """The trainer app running in this process with its real bootstrap (the packaged
    embedding model, the session's Postgres and broker); its settings."""
    settings = TrainerSettings(
        kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers,
        database_url=endpoints.database_url,
        data_dir=tmp_path_factory.mktemp("trainer-data"),
    )
    app = create_app(settings)
    async with app.lifespan_context():  # what `app.run()` does, without the signals
        await app.start()
        try:
            yield settings
        finally:
            await app.stop()


async def test_the_trainer_registers_a_model_from_labels_in_postgres(
    trainer: TrainerSettings, pool: asyncpg.Pool, client: PillarsClient, tenant: str
) -> None:
    labels = PgLabelStore(pool)
    await labels.create_schema()
    await labels.add_rows(synthetic_rows(60, tenant=tenant))
    name = f"sentiment-{uuid.uuid4().hex[:8]}"
    request = TrainingRequested(tenant=tenant, model=name, reason="integration test")
    answer = await answer_to(client, request)
    again = await answer_to(client, request)  # a redelivery: answered, not redone
    assert (answer.admitted, answer.version, answer.stage, answer.refusal) == (
        True,
        1,
        "candidate",
        "",
    )
    assert answer.event_id == derived_id(request.event_id, "model-registered")
    assert again == answer
    assert answer.metrics["holdout_n"] == 12
    assert answer.metrics["train_n"] == 48
    assert answer.metrics["candidate_macro_f1"] >= 0.8  # two vocabularies, MiniLM's vectors
    assert "production_macro_f1" not in answer.metrics  # the first version of its name
    registry = PgModelRegistry(pool)
    record = await registry.get(name, 1)
    snapshot = await labels.snapshot(tenant, "feedback", max_per_user=1000)
    assert record.stage == "candidate"
    artifact = await asyncio.to_thread(Path(record.artifact).read_bytes)
    assert record.sha256 == hashlib.sha256(artifact).hexdigest()
    assert Path(record.artifact).is_relative_to(trainer.data_dir / "models" / name)
    assert f"sha256:{snapshot.sha256}" in record.training_data
    assert "60 rows" in record.training_data
    assert "all-MiniLM-L6-v2" in record.training_data
    assert record.metrics == answer.metrics
    with pytest.raises(LookupError):
        await registry.get(name, 2)


async def test_pillars_train_from_a_file_stores_it_and_waits_for_the_trainer(
    trainer: TrainerSettings, pool: asyncpg.Pool, tenant: str, tmp_path: Path
) -> None:
    path = tmp_path / "reviews.jsonl"
    lines = [json.dumps({"text": r.text, "label": r.label}) for r in synthetic_rows(30)]
    await asyncio.to_thread(path.write_text, "\n".join(lines) + "\n")
    name = f"reviews-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILLARS_")} | {
        "PILLARS_KAFKA_BOOTSTRAP_SERVERS": str(trainer.kafka_bootstrap_servers),
        "PILLARS_DATABASE_URL": str(trainer.database_url),
    }
    command = [sys.executable, "-m", "shared.platform.cli", "--data-dir", str(tmp_path), "train"]
    command += ["--from", str(path), "--name", name, "--tenant", tenant, "--timeout", "60"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"stored 30 labels as file:{name} of tenant {tenant}" in done.stdout
    assert f"{name} v1 (logreg) registered, stage candidate" in done.stdout
    record = await PgModelRegistry(pool).get(name, 1)
    assert f"labels file:{name} of tenant {tenant}: 30 rows" in record.training_data
    # Labels other than the model's are refused, naming them, before anything is stored.
    renamed = [line.replace('"neg"', '"meh"') for line in lines]
    await asyncio.to_thread(path.write_text, "\n".join(renamed) + "\n")
    refused = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2
    assert f"labels {name!r} does not know: 'meh'" in refused.stderr
    assert (await PgLabelStore(pool).snapshot(tenant, f"file:{name}")).count == 30


async def test_label_feedback_on_a_prediction_becomes_a_label_row(
    pool: asyncpg.Pool, tenant: str
) -> None:
    ledger, labels = PgPredictionLedger(pool), PgLabelStore(pool)
    await ledger.create_schema()
    await labels.create_schema()
    answered = prediction("r1", [0.9]).model_copy(
        update={"tenant": tenant, "query": "a charming film", "label": "fresh", "user_id": "u1"}
    )
    await remember_prediction(answered, ledger=ledger, traceparent=None)
    given = Feedback(tenant=tenant, feedback_id="f1", request_id="r1", kind="label", value="plot")
    for _ in range(2):  # redelivered: the same row
        await record_feedback(given, ledger=ledger, labels=labels, park=InMemoryPark(), wait_s=0)
    [row] = (await labels.snapshot(tenant, "feedback")).rows
    assert (row.text, row.label, row.predicted, row.variant, row.user_id) == (
        "a charming film",
        "plot",
        "fresh",
        "a",
        "u1",
    )
    assert await labels.count_since(tenant, "feedback", given.occurred_at) == 0
    before = given.occurred_at - timedelta(seconds=1)
    assert await labels.count_since(tenant, "feedback", before) == 1
    older = given.model_copy(
        update={"value": "rotten", "occurred_at": given.occurred_at - timedelta(hours=1)}
    )
    await record_feedback(
        older, ledger=ledger, labels=labels, park=InMemoryPark(), wait_s=0
    )  # arrives late
    [row] = (await labels.snapshot(tenant, "feedback")).rows
    assert row.label == "plot"  # the newer label stays


async def test_a_file_uploaded_again_replaces_its_dataset(pool: asyncpg.Pool, tenant: str) -> None:
    labels = PgLabelStore(pool)
    await labels.create_schema()
    await labels.add_rows(synthetic_rows(20, tenant=tenant, dataset="file:mail"))
    await labels.add_rows(synthetic_rows(10, tenant=tenant, dataset="feedback"))
    shorter = synthetic_rows(6, tenant=tenant, dataset="file:mail", seed=1)
    await labels.add_rows(shorter, replace=True)
    snapshot = await labels.snapshot(tenant, "file:mail")
    assert [r.request_id for r in snapshot.rows] == [r.request_id for r in shorter]
    assert await labels.labels(tenant, "file:mail") == {"neg": 3, "pos": 3}
    assert (await labels.snapshot(tenant, "feedback")).count == 10  # another dataset stays
    capped = await labels.snapshot(tenant, "feedback", max_per_user=1)
    assert [r.user_id for r in capped.rows] == ["u0", "u1", "u2", "u3", "u4"]
    assert [r.request_id for r in capped.rows] == ["r005", "r006", "r007", "r008", "r009"]

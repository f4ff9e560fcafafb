"""The model registry on the real Postgres, and `pillars train` on the real labelled data."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from shared.models.admission import AdmissionPolicy, ModelRefused, admit
from shared.models.classifiers import load_classifier
from shared.models.pg_registry import ModelNotFound, PgModelRegistry
from shared.models.registry import ModelRecord, signature_of
from shared.platform.runtime.stack import Endpoints


async def test_versions_number_per_name_and_one_is_in_production(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    registry = PgModelRegistry(pool)
    await registry.create_schema()
    name = f"m-{uuid.uuid4().hex[:8]}"
    artifact = tmp_path / "a.skops"
    artifact.write_bytes(b"model bytes")
    base = ModelRecord(
        name=name,
        version=0,
        artifact=str(artifact),
        format="skops",
        licence="MIT",
        training_data="synthetic v1",
        metrics={"accuracy": 0.8},
        labels=("no", "yes"),
    )
    first = await registry.register(base)
    second = await registry.register(base)
    assert (first.version, second.version) == (1, 2)
    assert (first.stage, first.metrics, first.labels) == (
        "candidate",
        {"accuracy": 0.8},
        ("no", "yes"),
    )
    assert first.created_at is not None
    # Registration pins the file's digest; admission refuses the file if it changes.
    assert first.sha256 == hashlib.sha256(b"model bytes").hexdigest()
    with pytest.raises(FileNotFoundError, match="no artifact at"):
        await registry.register(replace(base, artifact=str(tmp_path / "absent.skops")))
    with pytest.raises(ModelNotFound, match="has no a production version"):
        await registry.get(name)
    await registry.promote(name, 1, "production")
    assert (await registry.get(name)).version == 1
    await registry.promote(name, 2, "production")
    assert (await registry.get(name)).version == 2
    assert (await registry.get(name, 1)).stage == "archived"
    with pytest.raises(ModelNotFound):
        await registry.promote(name, 9, "production")


@pytest.mark.parametrize("kind", ["logreg", "xgboost", "mlp"])
async def test_pillars_train_registers_a_classifier_that_beats_the_majority(
    endpoints: Endpoints, pool: asyncpg.Pool, tmp_path: Path, kind: str
) -> None:
    name = f"sentiment-{kind}-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILLARS_")} | {
        "PILLARS_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
        "PILLARS_DATABASE_URL": endpoints.database_url,
    }
    command = [sys.executable, "-m", "shared.platform.cli", "--data-dir", str(tmp_path), "train"]
    command += ["--kind", kind, "--sample", "600", "--name", name, "--promote"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{name} v1 ({kind}" in done.stdout

    record = await PgModelRegistry(pool).get(name)
    assert record.stage == "production"
    formats = {"logreg": "skops", "xgboost": "xgboost-json", "mlp": "safetensors"}
    assert record.format == formats[kind]
    assert record.labels == ("fresh", "plot", "rotten")
    assert record.licence
    assert "research-use" in record.licence
    assert "rotten-tomatoes" in record.training_data
    assert record.metrics["test_size"] == 150
    assert record.metrics["accuracy"] > record.metrics["majority_baseline_accuracy"] + 0.05
    assert Path(record.artifact).parent.joinpath("metrics.json").exists()

    classifier = load_classifier(admit(record))  # admission checks the recorded sha256
    rng = np.random.default_rng(0)
    vector = rng.standard_normal((2, 384)).astype(np.float32)
    results = classifier.classify(vector / np.linalg.norm(vector, axis=1, keepdims=True))
    assert all(r.label in record.labels for r in results)


@pytest.mark.security
async def test_a_signed_version_whose_bytes_or_record_changed_is_refused(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    key = b"integration signing key"
    registry = PgModelRegistry(pool, signing_key=key)
    await registry.create_schema()
    name = f"signed-{uuid.uuid4().hex[:8]}"
    artifact = tmp_path / "a.skops"
    skops.io.dump(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), artifact)
    base = ModelRecord(name, 0, str(artifact), "skops", "MIT", "synthetic", labels=("0", "1"))
    registered = await registry.register(base)
    assert registered.signature == signature_of(name, registered.sha256 or "", key)
    policy = AdmissionPolicy(signing_key=key)
    stored = await registry.get(name, registered.version)
    assert admit(stored, policy).record.signature == registered.signature
    # the bytes changed after registration
    original = artifact.read_bytes()
    artifact.write_bytes(original.replace(b"sklearn", b"sklearX", 1))
    with pytest.raises(ModelRefused, match="changed since it was registered"):
        admit(await registry.get(name, registered.version), policy)
    # someone with write access to the table records the new digest: the signature tells
    new_digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    await pool.execute(
        "UPDATE inference_models SET sha256 = $3 WHERE name = $1 AND version = $2",
        name,
        registered.version,
        new_digest,
    )
    with pytest.raises(ModelRefused, match="bad signature"):
        admit(await registry.get(name, registered.version), policy)
    # a version registered before the key was set is refused as unsigned
    artifact.write_bytes(original)
    unsigned = await PgModelRegistry(pool).register(base)
    with pytest.raises(ModelRefused, match="is not signed"):
        admit(unsigned, policy)

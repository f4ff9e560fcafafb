"""The trainer's handler with fakes: refusals that name the problem, the offline figures,
the registry row, the held-out rows being the newest, and one answer per request."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from services.trainer.handlers import train_requested
from services.trainer.ports import TrainingRules
from shared.contracts.events import ModelRegistered, TrainingRequested, derived_id
from shared.models.admission import AdmissionPolicy
from tests.fakes import FakeEncoder
from tests.unit.trainer.fakes import InMemoryLabels, InMemoryRegistry, InMemoryRuns, synthetic_rows

pytestmark = pytest.mark.loop

CANDIDATE_KEYS = {"holdout_n", "train_n", "candidate_macro_f1", "candidate_accuracy"}
PRODUCTION_KEYS = {
    "production_macro_f1",
    "production_accuracy",
    "macro_f1_delta",
    "macro_f1_delta_low",
    "macro_f1_delta_high",
}


@dataclasses.dataclass
class Trainer:
    """The handler's ports, and a call of it."""

    tmp_path: Path
    labels: InMemoryLabels = dataclasses.field(default_factory=InMemoryLabels)
    registry: InMemoryRegistry = dataclasses.field(default_factory=InMemoryRegistry)
    runs: InMemoryRuns = dataclasses.field(default_factory=InMemoryRuns)
    encoder: FakeEncoder = dataclasses.field(default_factory=FakeEncoder)
    policy: AdmissionPolicy = dataclasses.field(default_factory=AdmissionPolicy)
    max_labels_per_user: int | None = None

    async def __call__(self, request: TrainingRequested) -> ModelRegistered:
        rules = TrainingRules(
            models_dir=self.tmp_path / "models",
            min_per_class=5,
            max_labels_per_user=self.max_labels_per_user,
            resamples=200,
            policy=self.policy,
        )
        return await train_requested(
            request,
            labels=self.labels,
            registry=self.registry,
            encoder=self.encoder,
            runs=self.runs,
            rules=rules,
        )


def request(**fields: object) -> TrainingRequested:
    return TrainingRequested(tenant="acme", model="sentiment", **fields)  # type: ignore[arg-type]


async def test_a_candidate_is_registered_with_its_snapshot_and_held_out_figures(
    tmp_path: Path,
) -> None:
    train = Trainer(tmp_path, labels=InMemoryLabels(synthetic_rows(60)))
    asked = request()
    answer = await train(asked)
    assert (answer.admitted, answer.version, answer.stage, answer.refusal) == (
        True,
        1,
        "candidate",
        "",
    )
    assert answer.event_id == derived_id(asked.event_id, "model-registered")
    assert (answer.requested_by, answer.tenant, answer.model) == (
        asked.event_id,
        "acme",
        "sentiment",
    )
    assert set(answer.metrics) == CANDIDATE_KEYS  # no production to compare with
    assert (answer.metrics["holdout_n"], answer.metrics["train_n"]) == (12, 48)
    assert answer.metrics["candidate_macro_f1"] > 0.9  # the two vocabularies part cleanly
    record = train.registry.records[("sentiment", 1)]
    snapshot = await train.labels.snapshot("acme", "feedback")
    assert len(record.sha256 or "") == 64
    assert record.training_data == answer.training_data
    assert f"sha256:{snapshot.sha256}" in record.training_data
    assert "60 rows" in record.training_data
    assert "features fake-bow 1" in record.training_data
    assert record.labels == ("neg", "pos")
    assert record.licence == asked.licence
    assert Path(record.artifact).is_relative_to(tmp_path / "models" / "sentiment")


async def test_the_holdout_is_the_newest_labels(tmp_path: Path) -> None:
    rows = synthetic_rows(60)
    train = Trainer(tmp_path, labels=InMemoryLabels(rows[::-1]))  # stored in any order
    await train(request(holdout_fraction=0.25))
    [texts] = train.encoder.calls
    assert texts[-15:] == [r.text for r in rows[-15:]]  # the 15 newest, in time order
    assert texts[:45] == [r.text for r in rows[:45]]


async def test_the_candidate_is_compared_with_production_on_the_same_rows(
    tmp_path: Path,
) -> None:
    train = Trainer(tmp_path, labels=InMemoryLabels(synthetic_rows(60)))
    await train(request())
    await train.registry.promote("sentiment", 1, "production")
    answer = await train(request(seed=1))
    assert answer.version == 2
    assert set(answer.metrics) == CANDIDATE_KEYS | PRODUCTION_KEYS
    m = answer.metrics
    assert m["macro_f1_delta"] == pytest.approx(m["candidate_macro_f1"] - m["production_macro_f1"])
    assert m["macro_f1_delta_low"] <= m["macro_f1_delta"] <= m["macro_f1_delta_high"]


@pytest.mark.parametrize(
    ("rows", "refusal"),
    [
        ([], "no labels in dataset 'feedback' of tenant 'acme'"),
        (synthetic_rows(20)[::2], "has one label only ('pos', 10 rows)"),
        (synthetic_rows(10), "'neg' has 4, 'pos' has 4 (of 10 labels, the newest 2 held out)"),
    ],
    ids=["none", "one-label", "too-few-per-class"],
)
async def test_a_request_the_labels_cannot_serve_is_refused_saying_why(
    tmp_path: Path, rows: list[object], refusal: str
) -> None:
    train = Trainer(tmp_path, labels=InMemoryLabels(rows))  # type: ignore[arg-type]
    answer = await train(request())
    assert (answer.admitted, answer.version) == (False, None)
    assert refusal in answer.refusal
    assert train.registry.records == {}
    assert train.encoder.calls == []  # refused before any work


async def test_the_per_user_cap_keeps_each_users_newest_labels(tmp_path: Path) -> None:
    train = Trainer(tmp_path, labels=InMemoryLabels(synthetic_rows(60)), max_labels_per_user=8)
    answer = await train(request())
    assert answer.metrics["holdout_n"] + answer.metrics["train_n"] == 40  # 5 users x 8
    assert "at most 8 per user (20 over the cap left out)" in answer.training_data


async def test_an_artifact_admission_refuses_is_not_registered(tmp_path: Path) -> None:
    tiny = AdmissionPolicy(max_bytes=16)
    train = Trainer(tmp_path, labels=InMemoryLabels(synthetic_rows(60)), policy=tiny)
    answer = await train(request())
    assert (answer.admitted, answer.version) == (False, None)
    assert "admission refused the trained sentiment" in answer.refusal
    assert "PILLARS_MODEL_MAX_BYTES" in answer.refusal
    assert train.registry.records == {}


async def test_a_redelivered_request_is_answered_again_without_training(tmp_path: Path) -> None:
    train = Trainer(tmp_path, labels=InMemoryLabels(synthetic_rows(60)))
    asked = request()
    first = await train(asked)
    again = await train(asked)
    assert again == first
    assert len(train.registry.records) == 1
    assert len(train.encoder.calls) == 1


@pytest.mark.parametrize(("kind", "fmt"), [("xgboost", "xgboost-json"), ("mlp", "safetensors")])
async def test_every_kind_is_trained_admitted_and_scored(
    tmp_path: Path, kind: str, fmt: str
) -> None:
    train = Trainer(tmp_path, labels=InMemoryLabels(synthetic_rows(60)))
    answer = await train(request(kind=kind))
    assert (answer.admitted, answer.version, answer.kind) == (True, 1, kind)
    assert train.registry.records[("sentiment", 1)].format == fmt
    assert answer.metrics["candidate_accuracy"] > 0.8

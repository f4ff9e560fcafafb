"""The trainer's handler: a training request becomes a registered, admitted candidate (or a
refusal saying why), with its snapshot and its offline comparison against production.

The trainer decides nothing: whether the candidate is good enough, and when it serves, is
the evaluator's loop's to say from the figures published here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from services.trainer.offline import offline_metrics
from services.trainer.ports import Encoder, Labels, ModelRegistry, TrainingRules, TrainingRuns
from shared.contracts.events import ModelRegistered, TrainingRequested, derived_id
from shared.labels import LabelRow, Snapshot, time_split
from shared.models.admission import AdmissionPolicy, ModelRefused, admit
from shared.models.classifiers import LoadedClassifier, load_classifier
from shared.models.registry import ModelRecord, with_sha256
from shared.models.training import train_classifier

__all__ = ["SERVICE", "answer", "shortfall", "train_requested"]

SERVICE = "trainer"
log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def answer(request: TrainingRequested, **fields: Any) -> ModelRegistered:
    """Return the ModelRegistered answering `request`; its id derives from the request's, so
    a redelivered request is answered with the same event id."""
    return request.derive(
        ModelRegistered,
        event_id=derived_id(request.event_id, "model-registered"),
        requested_by=request.event_id,
        **fields,
    )


def shortfall(snapshot: Snapshot, train: Sequence[LabelRow], min_per_class: int) -> str | None:
    """Return why the snapshot cannot train a classifier, or None when it can."""
    where = f"dataset {snapshot.dataset!r} of tenant {snapshot.tenant!r}"
    if not snapshot.rows:
        return f"no labels in {where}" + (f" up to {snapshot.until}" if snapshot.until else "")
    if len(snapshot.label_counts) < 2:
        [(label, n)] = snapshot.label_counts.items()
        return f"{where} has one label only ({label!r}, {n} rows): a classifier needs two"
    trained = Counter(row.label for row in train)
    short = {
        label: trained[label] for label in snapshot.label_counts if trained[label] < min_per_class
    }
    if not short:
        return None
    held = snapshot.count - len(train)
    listed = ", ".join(f"{label!r} has {n}" for label, n in short.items())
    return (
        f"too few examples to train on in {where}: {listed} (of {snapshot.count} labels, the "
        f"newest {held} held out); each label needs {min_per_class} "
        "(PILLARS_TRAINER_MIN_PER_CLASS)"
    )


def _admitted(record: ModelRecord, policy: AdmissionPolicy) -> LoadedClassifier:
    """Admit `record`'s artifact and load it from the checked bytes (in a worker thread)."""
    return load_classifier(admit(record, policy))


async def _production(
    name: str, registry: ModelRegistry, policy: AdmissionPolicy
) -> LoadedClassifier | None:
    """Return the production version of `name` as admission loads it, if it has one."""
    try:
        record = await registry.get(name)
    except LookupError:
        return None
    try:
        return await asyncio.to_thread(_admitted, record, policy)
    except (ModelRefused, ValueError) as exc:  # not served either: nothing to compare with
        log.warning("production %s v%s is not compared: %s", name, record.version, exc)
        return None


def _score(
    holdout: Sequence[LabelRow],
    vectors: npt.NDArray[np.float32],
    candidate: LoadedClassifier,
    production: LoadedClassifier | None,
    *,
    resamples: int,
    seed: int,
) -> dict[str, float]:
    """Score both models on the held-out rows (in a worker thread)."""
    truth = [row.label for row in holdout]
    if not holdout:
        return offline_metrics(truth, [], None)
    said = [c.label for c in candidate.classify(vectors)]
    served = None if production is None else [c.label for c in production.classify(vectors)]
    return offline_metrics(truth, said, served, resamples=resamples, seed=seed)


async def train_requested(
    request: TrainingRequested,
    *,
    labels: Labels,
    registry: ModelRegistry,
    encoder: Encoder,
    runs: TrainingRuns,
    rules: TrainingRules,
) -> ModelRegistered:
    """Train, admit and register a candidate for `request`, or refuse it saying why.

    A request answered before (a redelivery) gets that answer again, without training.
    """
    done = await runs.find(request.event_id)
    if done is not None:
        return done
    registered = await _train(
        request, labels=labels, registry=registry, encoder=encoder, rules=rules
    )
    await runs.record(registered)
    return registered


async def _train(
    request: TrainingRequested,
    *,
    labels: Labels,
    registry: ModelRegistry,
    encoder: Encoder,
    rules: TrainingRules,
) -> ModelRegistered:
    snapshot = await labels.snapshot(
        request.tenant, request.dataset, request.labels_until, rules.max_labels_per_user
    )
    train, holdout = time_split(snapshot.rows, request.holdout_fraction)
    if (problem := shortfall(snapshot, train, rules.min_per_class)) is not None:
        return answer(request, admitted=False, refusal=problem, training_data=snapshot.describe())
    vectors = np.asarray(await encoder.encode([r.text for r in (*train, *holdout)]), np.float32)
    folder = _UNSAFE.sub("_", request.model).lstrip(".") or "model"
    # A folder of its own each run: a retried run never overwrites a registered artifact.
    out_dir = rules.models_dir / folder / uuid.uuid4().hex
    # train_classifier sets a stratified share aside for figures of its own; the gate uses
    # the time-based holdout instead, so that share is the least the split allows (one row
    # per label) and the model learns from all the others.
    inner_share = min(0.25, len(snapshot.label_counts) / len(train))
    try:  # CPU work in a worker thread: the consumer keeps heartbeating meanwhile
        result = await asyncio.to_thread(
            train_classifier,
            vectors[: len(train)],
            [row.label for row in train],
            kind=request.kind,
            out_dir=out_dir,
            seed=request.seed,
            test_share=inner_share,
        )
    except ValueError as exc:  # e.g. a stratified split the counts cannot make
        return answer(
            request,
            admitted=False,
            refusal=f"training failed: {exc}",
            training_data=snapshot.describe(),
        )
    training_data = (
        f"{snapshot.describe()}; features {encoder.model.name} {encoder.model.version}; "
        f"{request.kind} on the oldest {len(train)}, the newest {len(holdout)} held out, "
        f"seed {request.seed}; request {request.event_id}"
    )
    record = ModelRecord(
        name=request.model,
        version=0,
        artifact=str(result.artifact),
        format=result.format,
        licence=request.licence,
        training_data=training_data,
        labels=result.labels,
    )
    record = await asyncio.to_thread(with_sha256, record, rules.policy.signing_key)
    try:  # the same admission as any artifact; a refused one is never registered
        candidate = await asyncio.to_thread(_admitted, record, rules.policy)
    except (ModelRefused, ValueError) as exc:
        refusal = f"admission refused the trained {request.model}: {exc}"
        return answer(request, admitted=False, refusal=refusal, training_data=training_data)
    production = await _production(request.model, registry, rules.policy)
    metrics = await asyncio.to_thread(
        _score,
        holdout,
        vectors[len(train) :],
        candidate,
        production,
        resamples=rules.resamples,
        seed=request.seed,
    )
    metrics["train_n"] = float(len(train))
    stored = await registry.register(dataclasses.replace(record, metrics=metrics))
    return answer(
        request,
        version=stored.version,
        stage=stored.stage,
        admitted=True,
        training_data=stored.training_data,
        metrics=metrics,
    )

"""The trainer assembled: the label store, the model registry, the runs it answered and
the embedding model, real or given by a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial

from services.trainer.adapters.pg_runs import PgTrainingRuns
from services.trainer.config import TrainerSettings
from services.trainer.ports import Encoder, Labels, ModelRegistry, TrainingRules, TrainingRuns
from shared.encoders import load_encoder
from shared.kit.db import PostgresAdapters
from shared.labels import PgLabelStore
from shared.models.admission import AdmissionPolicy
from shared.models.pg_registry import PgModelRegistry

__all__ = ["TrainerDependencies", "bootstrap", "training_rules"]


@dataclass(frozen=True)
class TrainerDependencies:
    """Everything the trainer's handler needs, built once per process."""

    settings: TrainerSettings
    labels: Labels
    registry: ModelRegistry
    encoder: Encoder
    runs: TrainingRuns
    rules: TrainingRules


def training_rules(settings: TrainerSettings) -> TrainingRules:
    """Return what a training set must hold and where artifacts go, as the settings say."""
    return TrainingRules(
        models_dir=settings.data_dir / "models",
        min_per_class=settings.trainer_min_per_class,
        max_labels_per_user=settings.trainer_max_labels_per_user or None,  # 0: no cap
        resamples=settings.trainer_bootstrap_resamples,
        policy=AdmissionPolicy.from_settings(settings),
    )


@asynccontextmanager
async def bootstrap(
    settings: TrainerSettings,
    *,
    labels: Labels | None = None,
    registry: ModelRegistry | None = None,
    encoder: Encoder | None = None,
    runs: TrainingRuns | None = None,
) -> AsyncIterator[TrainerDependencies]:
    """Build the trainer's dependencies from `settings`; a test overrides any of them (and
    then no Postgres is opened, or model loaded, for it)."""
    async with AsyncExitStack() as stack:
        postgres = PostgresAdapters(
            stack, lambda: settings.dsn, service=settings.database_service("trainer")
        )
        labels = await postgres.built(labels, PgLabelStore)
        registry = await postgres.built(
            registry, partial(PgModelRegistry, signing_key=settings.signing_key)
        )
        runs = await postgres.built(runs, PgTrainingRuns)
        if encoder is None:  # loading reads (and may export) the model: off the event loop
            encoder = await asyncio.to_thread(load_encoder, settings)
        yield TrainerDependencies(
            settings, labels, registry, encoder, runs, training_rules(settings)
        )

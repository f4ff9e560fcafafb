"""Ingestion assembled: the tokenizer, the assignment store, the experiment in force and the
tenants' token buckets, real or given by a test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from services.ingestion.adapters.model_tokenizer import ModelTokenizer
from services.ingestion.adapters.pg_assignments import PgAssignments
from services.ingestion.config import IngestionSettings
from services.ingestion.fairness import TenantLimiter
from services.ingestion.ports import Assignments, Tokenizer
from shared.encoders.model_folder import max_sequence_length, model_folder
from shared.experiment_store import ExperimentStore, LiveExperiment, PgExperimentStore
from shared.kit.db import PostgresAdapters

__all__ = ["IngestionDependencies", "bootstrap", "load_tokenizer"]


@dataclass(frozen=True)
class IngestionDependencies:
    """Everything ingestion's handlers need, built once per process."""

    settings: IngestionSettings
    tokens: Tokenizer
    assignments: Assignments
    experiments: ExperimentStore
    experiment: LiveExperiment
    limiter: TenantLimiter = field(default_factory=TenantLimiter)


def load_tokenizer(settings: IngestionSettings) -> ModelTokenizer:
    """Load the embedding model's tokenizer, refusing a chunk size its window cannot read."""
    folder = model_folder(settings.embedding_model_path)
    window = max_sequence_length(folder) - 2  # [CLS] and [SEP] take two
    if settings.chunk_size_tokens > window:
        raise RuntimeError(
            f"PILLARS_CHUNK_SIZE_TOKENS={settings.chunk_size_tokens} exceeds what the model "
            f"at {folder} reads ({window} tokens besides its special ones): lower it"
        )
    return ModelTokenizer(folder)


@asynccontextmanager
async def bootstrap(
    settings: IngestionSettings,
    *,
    tokens: Tokenizer | None = None,
    assignments: Assignments | None = None,
    experiments: ExperimentStore | None = None,
    limiter: TenantLimiter | None = None,
) -> AsyncIterator[IngestionDependencies]:
    """Build ingestion's dependencies from `settings`; a test overrides any of them (and
    then no Postgres is opened for it). The experiment in force is the stored one; the
    setting seeds a fresh database."""
    async with AsyncExitStack() as stack:
        postgres = PostgresAdapters(
            stack, lambda: settings.dsn, service=settings.database_service("ingestion")
        )
        assignments = await postgres.built(assignments, PgAssignments)
        experiments = await postgres.built(experiments, PgExperimentStore)
        live = LiveExperiment.of(await experiments.seed(settings.experiment))
        yield IngestionDependencies(
            settings,
            tokens or load_tokenizer(settings),
            assignments,
            experiments,
            live,
            limiter or settings.limiter(),
        )

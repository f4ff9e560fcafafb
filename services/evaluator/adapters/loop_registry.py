"""The model registry and the experiments as the loop uses them (over shared's Postgres
registry and experiment store)."""

from __future__ import annotations

import json

import asyncpg

from shared.contracts.events import ExperimentChanged
from shared.contracts.experiments import Experiment
from shared.experiment_store import PgExperimentStore
from shared.models.pg_registry import ModelNotFound, PgModelRegistry
from shared.models.registry import ModelRecord, Stage

__all__ = ["LOOP_ACTOR", "RegistryStages", "StoredExperiments"]

# Who the experiment versions the loop writes say made them.
LOOP_ACTOR = "loop"


class RegistryStages:
    """ModelStages over the registry: stage changes through it, version lists read here."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._registry = PgModelRegistry(pool)

    async def create_schema(self) -> None:
        """Create the registry's table if no one has yet."""
        await self._registry.create_schema()

    async def production_version(self, name: str) -> int | None:
        """Return the production version of `name`, if any."""
        try:
            return (await self._registry.get(name)).version
        except ModelNotFound:
            return None

    async def promote(self, name: str, version: int, stage: Stage) -> None:
        """Move a version to `stage` (the registry archives the previous production one)."""
        await self._registry.promote(name, version, stage)

    async def versions(self, name: str) -> list[ModelRecord]:
        """Return every version of `name`, oldest first."""
        rows = await self._pool.fetch(
            "SELECT name, version, artifact, format, licence, training_data, metrics::text "
            "AS metrics, labels::text AS labels, stage, created_at, sha256 "
            "FROM inference_models WHERE name = $1 ORDER BY version",
            name,
        )
        return [
            ModelRecord(
                **dict(row)
                | {
                    "metrics": json.loads(row["metrics"]),
                    "labels": tuple(json.loads(row["labels"])),
                }
            )
            for row in rows
        ]


class StoredExperiments:
    """ExperimentControl over the experiment store: versions written as the loop's."""

    def __init__(self, store: PgExperimentStore) -> None:
        self._store = store

    async def current(self, name: str) -> Experiment | None:
        """Return the version of `name` in force, if any."""
        found = await self._store.current(name)
        return found.experiment if found else None

    async def write(self, experiment: Experiment, *, reason: str) -> ExperimentChanged:
        """Store the next version of the experiment and return its announcement."""
        version = await self._store.write(experiment, reason=reason, actor=LOOP_ACTOR)
        return version.announcement()

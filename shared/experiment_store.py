"""Experiments as data: versioned rows in Postgres, and the one in force in this process.

Operators (`pillars experiment`) and the evaluator's loop write a new version and announce
it on the `experiments` topic; ingestion and inference replicas load the version in force
when they start and apply each announced one newer than theirs, without a restart. The
`PILLARS_EXPERIMENT` setting is only the seed of a fresh database.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg

from shared.contracts.events import ExperimentChanged
from shared.contracts.experiments import Experiment
from shared.kit.db import apply_schema
from shared.kit.db_tenancy import grants_ddl

__all__ = [
    "CATCH_UP_S",
    "ExperimentStore",
    "ExperimentVersion",
    "LiveExperiment",
    "PgExperimentStore",
    "newer_stored",
]

log = logging.getLogger(__name__)

# A replica also reads the version in force this often, so an announcement it could not
# have seen (made while it was starting, before its consumer joined; or one whose publish
# failed after the write) still reaches it: one small query a replica every 30 s.
CATCH_UP_S = 30.0

DDL = """
CREATE TABLE IF NOT EXISTS experiment_versions (
    name text NOT NULL,
    version integer NOT NULL,
    body jsonb NOT NULL,
    reason text NOT NULL DEFAULT '',
    actor text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
""" + grants_ddl(
    "SELECT, INSERT", ["experiment_versions"], ["ingestion", "embedding", "inference", "evaluator"]
)

# The next version of `name`, written only if nobody wrote it first (two writers at once:
# one wins, the other retries on top of it).
WRITE = """
INSERT INTO experiment_versions (name, version, body, reason, actor)
SELECT $1, COALESCE(MAX(version), 0) + 1, $2::jsonb, $3, $4
FROM experiment_versions WHERE name = $1
ON CONFLICT DO NOTHING
RETURNING version, created_at
"""
# Version 1 only: replicas starting together on a fresh database all seed, and one row wins.
SEED = """
INSERT INTO experiment_versions (name, version, body, reason, actor)
VALUES ($1, 1, $2::jsonb, 'seeded from PILLARS_EXPERIMENT', 'seed')
ON CONFLICT DO NOTHING
"""
COLUMNS = "version, body, reason, actor, created_at"


@dataclass(frozen=True)
class ExperimentVersion:
    """One version of an experiment, and why and by whom it was made."""

    experiment: Experiment
    version: int
    reason: str
    actor: str
    created_at: datetime

    def announcement(self, tenant: str = "platform") -> ExperimentChanged:
        """Return the event that announces this version."""
        return ExperimentChanged(
            tenant=tenant,
            name=self.experiment.name,
            version=self.version,
            experiment=self.experiment,
            reason=self.reason,
            actor=self.actor,
        )


class ExperimentStore(Protocol):
    """What a service reads of the stored experiments."""

    async def seed(self, experiment: Experiment) -> ExperimentVersion:
        """Return the version in force of `experiment.name`, storing `experiment` as its
        first version when there is none."""
        ...

    async def current(self, name: str) -> ExperimentVersion | None:
        """Return the version of `name` in force, if it has any."""
        ...


class PgExperimentStore:
    """Versions of experiments in Postgres; the highest version of a name is in force."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the versions table if it does not exist."""
        await apply_schema(self._pool, "experiments", DDL)

    async def names(self) -> list[str]:
        """Return the name of every stored experiment, sorted."""
        rows = await self._pool.fetch("SELECT DISTINCT name FROM experiment_versions ORDER BY 1")
        return [row["name"] for row in rows]

    async def current(self, name: str) -> ExperimentVersion | None:
        """Return the version of `name` in force, if it has any."""
        rows = await self.history(name, limit=1)
        return rows[0] if rows else None

    async def version(self, name: str, version: int) -> ExperimentVersion | None:
        """Return version `version` of `name`, if it exists."""
        row = await self._pool.fetchrow(
            f"SELECT {COLUMNS} FROM experiment_versions WHERE name = $1 AND version = $2",
            name,
            version,
        )
        return None if row is None else _version(row)

    async def history(self, name: str, *, limit: int = 50) -> list[ExperimentVersion]:
        """Return `name`'s versions, newest first."""
        rows = await self._pool.fetch(
            f"SELECT {COLUMNS} FROM experiment_versions "
            "WHERE name = $1 ORDER BY version DESC LIMIT $2",
            name,
            limit,
        )
        return [_version(row) for row in rows]

    async def write(self, experiment: Experiment, *, reason: str, actor: str) -> ExperimentVersion:
        """Store `experiment` as the next version of its name and return it."""
        body = experiment.model_dump_json()
        while True:
            row = await self._pool.fetchrow(WRITE, experiment.name, body, reason, actor)
            if row is not None:
                return ExperimentVersion(
                    experiment, row["version"], reason, actor, row["created_at"]
                )

    async def seed(self, experiment: Experiment) -> ExperimentVersion:
        """Return the version in force of `experiment.name`, writing `experiment` as its
        first version when the database has none (the setting seeds a fresh database)."""
        await self._pool.execute(SEED, experiment.name, experiment.model_dump_json())
        found = await self.current(experiment.name)
        assert found is not None, "version 1 was just written or already there"
        return found


def _version(row: asyncpg.Record) -> ExperimentVersion:
    body = row["body"]
    experiment = Experiment.model_validate(json.loads(body) if isinstance(body, str) else body)
    return ExperimentVersion(
        experiment, row["version"], row["reason"], row["actor"], row["created_at"]
    )


class LiveExperiment:
    """The experiment version in force in this process, replaced by newer announcements.

    Handlers read `current` for each message, so a change applies to the next request.
    """

    def __init__(self, experiment: Experiment, version: int = 0) -> None:
        self._experiment = experiment
        self._version = version

    @classmethod
    def of(cls, stored: ExperimentVersion) -> LiveExperiment:
        """Return `stored` in force."""
        return cls(stored.experiment, stored.version)

    @property
    def current(self) -> Experiment:
        """Return the experiment in force."""
        return self._experiment

    @property
    def version(self) -> int:
        """Return the version in force (0: the setting, never stored)."""
        return self._version

    def is_newer(self, change: ExperimentChanged) -> bool:
        """Tell whether `change` is a newer version of the experiment in force."""
        return change.name == self._experiment.name and change.version > self._version

    def apply(self, change: ExperimentChanged) -> bool:
        """Put `change` in force if it is a newer version of this experiment, logging the
        switch; return whether it was (an older or repeated announcement, or another
        experiment's, changes nothing)."""
        if not self.is_newer(change):
            if change.name != self._experiment.name:  # a process seeded with another one
                log.warning(
                    "experiment %s v%d announced, but this process follows %s "
                    "(PILLARS_EXPERIMENT's name): nothing changes",
                    change.name,
                    change.version,
                    self._experiment.name,
                )
            return False
        log.info(
            "experiment %s switched v%d -> v%d (reason: %s; by %s)",
            change.name,
            self._version,
            change.version,
            change.reason or "none given",
            change.actor or "unknown",
        )
        self._experiment, self._version = change.experiment, change.version
        return True


async def newer_stored(store: ExperimentStore, live: LiveExperiment) -> ExperimentChanged | None:
    """Return the announcement of the stored version in force when it is newer than the
    live one (an announcement this replica missed), else None."""
    stored = await store.current(live.current.name)
    if stored is None or stored.version <= live.version:
        return None
    return stored.announcement()

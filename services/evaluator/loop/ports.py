"""What the loop needs from the outside world: its journal, the experiments, the model
registry's stages and the count of new labels."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.evaluator.config import LoopModel
from shared.contracts.events import ExperimentChanged, LoopDecision, ModelRegistered
from shared.contracts.experiments import Experiment
from shared.models.registry import ModelRecord, Stage

__all__ = ["ExperimentControl", "LabelCounter", "LoopJournal", "LoopPorts", "ModelStages"]


class LoopJournal(Protocol):
    """The loop's steps per model (one row per decision) and the registrations it awaits."""

    async def record(self, decision: LoopDecision) -> None:
        """Keep a decision (once per event id)."""
        ...

    async def decisions(
        self, model: str | None = None, since: datetime | None = None
    ) -> list[LoopDecision]:
        """Return the decisions for `model` (None: every model) since `since`, oldest first."""
        ...

    async def keep_registration(self, registration: ModelRegistered) -> bool:
        """Keep a registration for the next round (once per event id); return whether new."""
        ...

    async def registrations(self, model: str) -> list[ModelRegistered]:
        """Return `model`'s registrations no round has dealt with yet, oldest first."""
        ...

    async def dealt_with(self, event_ids: Sequence[uuid.UUID]) -> None:
        """Mark registrations as dealt with."""
        ...

    async def manage(self, models: Sequence[LoopModel]) -> None:
        """Remember the models the loop manages, for `pillars retrain` and `loop status`."""
        ...

    async def managed(self) -> list[LoopModel]:
        """Return the models the loop was last told to manage."""
        ...


class ExperimentControl(Protocol):
    """The experiments in force, and new versions of them written by the loop."""

    async def current(self, name: str) -> Experiment | None:
        """Return the version of experiment `name` in force, if it has one."""
        ...

    async def write(self, experiment: Experiment, *, reason: str) -> ExperimentChanged:
        """Store `experiment` as the next version (actor `loop`) and return its announcement."""
        ...


class ModelStages(Protocol):
    """The model registry as the loop uses it: production versions and stage changes."""

    async def production_version(self, name: str) -> int | None:
        """Return the version of `name` in production, if any."""
        ...

    async def promote(self, name: str, version: int, stage: Stage) -> None:
        """Move a version to `stage` (production archives the previous production)."""
        ...

    async def versions(self, name: str) -> list[ModelRecord]:
        """Return every version of `name`, oldest first."""
        ...


class LabelCounter(Protocol):
    """How many labels a tenant's dataset gained."""

    async def count_since(self, tenant: str, dataset: str, since: datetime | None) -> int:
        """Return how many labels `tenant` gave `dataset` after `since` (None: ever)."""
        ...


@dataclass(frozen=True)
class LoopPorts:
    """The loop's adapters, real or given by a test."""

    journal: LoopJournal
    experiments: ExperimentControl
    stages: ModelStages
    labels: LabelCounter

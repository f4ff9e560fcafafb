"""Fakes at the loop's ports: its journal, the experiments, the registry's stages and the
label count, in memory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.evaluator.config import LoopModel
from services.evaluator.loop.ports import LoopPorts
from shared.contracts.events import ExperimentChanged, LoopDecision, ModelRegistered
from shared.contracts.experiments import Experiment
from shared.models.registry import ModelRecord, Stage

__all__ = ["FixedLabels", "InMemoryExperiments", "InMemoryJournal", "InMemoryStages", "ports"]


@dataclass
class InMemoryJournal:
    steps: list[LoopDecision] = field(default_factory=list)
    waiting: dict[uuid.UUID, ModelRegistered] = field(default_factory=dict)
    done: set[uuid.UUID] = field(default_factory=set)
    models: list[LoopModel] = field(default_factory=list)

    async def record(self, decision: LoopDecision) -> None:
        if all(d.event_id != decision.event_id for d in self.steps):
            self.steps.append(decision)

    async def decisions(
        self, model: str | None = None, since: datetime | None = None
    ) -> list[LoopDecision]:
        return [
            d
            for d in self.steps
            if (model is None or d.model == model) and (since is None or d.occurred_at >= since)
        ]

    async def keep_registration(self, registration: ModelRegistered) -> bool:
        new = registration.event_id not in self.waiting
        self.waiting.setdefault(registration.event_id, registration)
        return new

    async def registrations(self, model: str) -> list[ModelRegistered]:
        return [r for key, r in self.waiting.items() if r.model == model and key not in self.done]

    async def dealt_with(self, event_ids: Sequence[uuid.UUID]) -> None:
        self.done.update(event_ids)

    async def manage(self, models: Sequence[LoopModel]) -> None:
        self.models = list(models)

    async def managed(self) -> list[LoopModel]:
        return list(self.models)


@dataclass
class InMemoryExperiments:
    versions: dict[str, list[Experiment]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    async def current(self, name: str) -> Experiment | None:
        found = self.versions.get(name)
        return found[-1] if found else None

    async def write(self, experiment: Experiment, *, reason: str) -> ExperimentChanged:
        versions = self.versions.setdefault(experiment.name, [])
        versions.append(experiment)
        self.reasons.append(reason)
        return ExperimentChanged(
            tenant="platform",
            name=experiment.name,
            version=len(versions),
            experiment=experiment,
            reason=reason,
            actor="loop",
        )


@dataclass
class InMemoryStages:
    stages: dict[tuple[str, int], Stage] = field(default_factory=dict)
    moves: list[tuple[str, int, Stage]] = field(default_factory=list)

    async def production_version(self, name: str) -> int | None:
        return next(
            (v for (n, v), s in self.stages.items() if n == name and s == "production"), None
        )

    async def promote(self, name: str, version: int, stage: Stage) -> None:
        if stage == "production":
            for key, was in list(self.stages.items()):
                if key[0] == name and was == "production":
                    self.stages[key] = "archived"
        self.stages[(name, version)] = stage
        self.moves.append((name, version, stage))

    async def versions(self, name: str) -> list[ModelRecord]:
        return [
            ModelRecord(
                name=n,
                version=v,
                artifact=f"/models/{n}/{v}.skops",
                format="skops",
                licence="test",
                training_data=f"labels of v{v}",
                stage=s,
            )
            for (n, v), s in sorted(self.stages.items())
            if n == name
        ]


@dataclass
class FixedLabels:
    count: int = 0
    asked: list[tuple[str, str, datetime | None]] = field(default_factory=list)

    async def count_since(self, tenant: str, dataset: str, since: datetime | None) -> int:
        self.asked.append((tenant, dataset, since))
        return self.count


def ports(
    journal: InMemoryJournal | None = None,
    experiments: InMemoryExperiments | None = None,
    stages: InMemoryStages | None = None,
    labels: FixedLabels | None = None,
) -> LoopPorts:
    """Return the loop's ports, each the given fake or a fresh one."""
    return LoopPorts(
        journal=journal or InMemoryJournal(),
        experiments=experiments or InMemoryExperiments(),
        stages=stages or InMemoryStages(),
        labels=labels or FixedLabels(),
    )

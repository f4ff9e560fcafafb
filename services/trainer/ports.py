"""What the trainer's handler needs from the outside world."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from shared.contracts.events import ModelRef, ModelRegistered
from shared.labels import Snapshot
from shared.models.admission import AdmissionPolicy
from shared.models.registry import ModelRegistry

__all__ = ["Encoder", "Labels", "ModelRegistry", "TrainingRules", "TrainingRuns"]


@dataclass(frozen=True)
class TrainingRules:
    """What a training set must hold, where artifacts go, and what admission lets through."""

    models_dir: Path  # artifacts go to <models_dir>/<name>/<uuid>/
    min_per_class: int = 5
    max_labels_per_user: int | None = None
    resamples: int = 1000
    policy: AdmissionPolicy = field(default_factory=AdmissionPolicy)


class Labels(Protocol):
    """The labelled examples (`shared.labels`), as training reads them."""

    async def snapshot(
        self,
        tenant: str,
        dataset: str,
        until: datetime | None = None,
        max_per_user: int | None = None,
    ) -> Snapshot:
        """Return the dataset's labels up to `until`, at most `max_per_user` of each user."""
        ...


class Encoder(Protocol):
    """The embedding model: the features are the vectors inference classifies."""

    @property
    def model(self) -> ModelRef:
        """Name and version of the model, backend included."""
        ...

    async def encode(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one vector per text, computed off the event loop."""
        ...


class TrainingRuns(Protocol):
    """What each training request came to, so a redelivered one is answered, not redone."""

    async def find(self, request: uuid.UUID) -> ModelRegistered | None:
        """Return the answer to the TrainingRequested event `request`, if it has one."""
        ...

    async def record(self, registered: ModelRegistered) -> None:
        """Keep the answer to the request it names (`requested_by`)."""
        ...

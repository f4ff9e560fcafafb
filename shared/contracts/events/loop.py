"""The loop's events: experiments changed at run time, training asked for, models
registered, and each decision the loop takes (topics `experiments`, `training`, `models`,
`loop`)."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from shared.contracts.events.base import Event
from shared.contracts.experiments import Experiment

__all__ = [
    "ExperimentChanged",
    "LoopDecision",
    "LoopStep",
    "ModelKind",
    "ModelRegistered",
    "TrainingRequested",
]

ModelKind = Literal["logreg", "xgboost", "mlp"]
LoopStep = Literal[
    "triggered",
    "trained",
    "rejected_offline",
    "shadowing",
    "challenging",
    "promoted",
    "archived",
    "rolled_back",
]


class ExperimentChanged(Event):
    """A new version of an experiment, now in force (topic `experiments`)."""

    key_field: ClassVar[str] = "name"

    name: str
    version: int = Field(ge=1, description="Monotonic per experiment; older never wins.")
    experiment: Experiment
    reason: str = ""
    actor: str = Field(default="", description="`loop`, `cli`, or who else changed it.")


class TrainingRequested(Event):
    """Train a candidate version of a model on a snapshot of labels (topic `training`)."""

    key_field: ClassVar[str] = "model"

    model: str = Field(min_length=1, description="The registry name to register under.")
    kind: ModelKind = "logreg"
    dataset: str = Field(
        default="feedback",
        description="`feedback` (labels the platform collected) or `file:<name>` (a user's).",
    )
    labels_until: AwareDatetime | None = Field(
        default=None, description="Snapshot bound: labels up to this time (None: now)."
    )
    holdout_fraction: float = Field(
        default=0.2, ge=0, lt=1, description="The newest labels held out for the offline gate."
    )
    seed: int = 0
    licence: str = "as the labels' owner agreed"
    reason: str = ""


class ModelRegistered(Event):
    """A model version the trainer registered, with what trained it (topic `models`)."""

    key_field: ClassVar[str] = "model"

    model: str
    version: int | None = Field(default=None, ge=1, description="None: nothing registered.")
    kind: ModelKind = "logreg"
    stage: str = "candidate"
    admitted: bool = True
    refusal: str = Field(default="", description="Why training or admission refused it.")
    training_data: str = Field(default="", description="The snapshot: range, rows, hash.")
    metrics: dict[str, float] = Field(default_factory=dict)
    requested_by: uuid.UUID | None = Field(
        default=None, description="The TrainingRequested event this answers."
    )


class LoopDecision(Event):
    """One step the loop took for a model, with the numbers behind it (topic `loop`)."""

    # Read by no service, only by dashboards and operators: a figure that is not finite
    # stays as it was (JSON writes it as null) rather than failing its producer.
    model_config = ConfigDict(allow_inf_nan=True)

    key_field: ClassVar[str] = "model"

    model: str
    step: LoopStep
    candidate_version: int | None = None
    production_version: int | None = None
    reason: str
    figures: dict[str, float] = Field(default_factory=dict)
    evaluation_id: uuid.UUID | None = Field(
        default=None, description="The evaluation (A/B verdict) that decided, if one did."
    )

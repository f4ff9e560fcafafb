"""Trainer settings: admission (as any service that loads models), the embedding model
whose vectors are the features, and what a training set must hold."""

from __future__ import annotations

from pydantic import Field

from shared.encoders import EncoderSettings
from shared.models.settings import ModelSettings

__all__ = ["TrainerSettings"]


class TrainerSettings(ModelSettings, EncoderSettings):
    """`PILLARS_*` settings of the trainer service."""

    trainer_min_per_class: int = Field(
        default=5,
        ge=2,
        description="Fewest examples of each label a training set needs (besides the held-out "
        "ones); fewer, and the request is refused naming the label.",
    )
    trainer_max_labels_per_user: int = Field(
        default=1000,
        ge=0,
        description="Most labels of one user a snapshot counts (their newest), so one user "
        "cannot steer training alone; 0 = no cap. A file's rows have no user.",
    )
    trainer_bootstrap_resamples: int = Field(
        default=1000,
        ge=100,
        description="Resamples of the held-out rows for the 95% interval of the macro-F1 "
        "difference between the candidate and production.",
    )

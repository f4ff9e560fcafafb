"""The trainer's FastStream wiring: training -> models."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.trainer.bootstrap import TrainerDependencies, bootstrap
from services.trainer.config import TrainerSettings
from services.trainer.handlers import SERVICE, train_requested
from services.trainer.metrics import observe_registered
from shared.contracts.events import ModelRegistered, TrainingRequested
from shared.contracts.topics import Topic
from shared.kit.service import ServiceKit

__all__ = ["create_app"]

Assembler = Callable[[], AbstractAsyncContextManager[TrainerDependencies]]


def create_app(
    settings: TrainerSettings | None = None, *, assemble: Assembler | None = None
) -> FastStream:
    """Build the trainer app; nothing connects until it runs (`assemble` replaces the
    bootstrap, e.g. with fakes)."""
    settings = settings or TrainerSettings()
    kit = ServiceKit(SERVICE, settings)
    deps = kit.assemble(assemble or partial(bootstrap, settings))

    @kit.handles(Topic.TRAINING, publishes=Topic.MODELS, observe=observe_registered)
    async def on_training_requested(event: TrainingRequested) -> ModelRegistered:
        return await train_requested(
            event,
            labels=deps().labels,
            registry=deps().registry,
            encoder=deps().encoder,
            runs=deps().runs,
            rules=deps().rules,
        )

    return kit.app()

"""Scaler's FastStream wiring: every few seconds, offsets -> a decision per service -> act."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from functools import partial

from faststream import FastStream

from services.scaler.bootstrap import ScalerDependencies, bootstrap
from services.scaler.config import ScalerSettings
from services.scaler.handlers import SERVICE
from services.scaler.rounds import ScalingRound
from shared.contracts.topics import Topic
from shared.kit.service import ServiceKit

__all__ = ["Assembler", "create_app", "schedule_rounds"]

Assembler = Callable[[], AbstractAsyncContextManager[ScalerDependencies]]


def schedule_rounds(kit: ServiceKit[ScalerSettings], assemble: Assembler) -> ScalingRound:
    """Assemble the scaler on `kit` and run its round every interval once the broker is
    connected; return the round (a test runs it once)."""
    deps = kit.assemble(assemble)
    round_ = ScalingRound(deps, partial(kit.publish, kit.publisher(Topic.SCALING)))
    kit.every(kit.settings.scaler_interval_s, "loop", round_)
    return round_


def create_app(
    settings: ScalerSettings | None = None, *, assemble: Assembler | None = None
) -> FastStream:
    """Build the scaler app; nothing connects until it runs (`assemble` replaces the
    bootstrap, e.g. with fakes)."""
    settings = settings or ScalerSettings()
    kit = ServiceKit(SERVICE, settings)
    schedule_rounds(kit, assemble or partial(bootstrap, settings))
    return kit.app()

"""Model versions announced by the registry's writers (the trainer), taken up at run time:
each replica admits and loads a new version before any request needs it, and looks the
production version up again; a version admission refuses is never served."""

from __future__ import annotations

import logging

from services.inference.ports import ModelVersions
from shared.contracts.events import ModelRegistered
from shared.models.refusal import ModelRefused

__all__ = ["IgnoredVersions", "take_up_model"]

log = logging.getLogger(__name__)


async def take_up_model(event: ModelRegistered, *, models: ModelVersions) -> None:
    """Prepare this replica for the version `event` announces."""
    models.forget_production(event.model)
    if not event.admitted or event.version is None:
        log.warning("%s: nothing to serve (%s)", event.model, event.refusal or "no version")
        return
    try:
        await models.preload(event.model, event.version)
    except ModelRefused as exc:
        log.error("%s v%d is refused, never served: %s", event.model, event.version, exc)
        return
    log.info("%s v%d admitted and loaded", event.model, event.version)


class IgnoredVersions:
    """`ModelVersions` for a replica whose classifiers are not the registry's (a test's)."""

    async def preload(self, name: str, version: int) -> None:
        """Load nothing."""

    def forget_production(self, name: str | None) -> None:
        """Forget nothing."""

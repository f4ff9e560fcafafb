"""Classifiers from the model registry: admitted before they load, loaded once per version.

The production version of a name is looked up again after `refresh_s`, so promoting a
new version takes effect without a restart; a version once loaded stays in memory.
Admission reads the file once and the loader builds the model from those bytes, both off
the event loop (a model file may be hundreds of megabytes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from shared.models.admission import AdmissionPolicy, admit
from shared.models.classifiers import LoadedClassifier, load_classifier
from shared.models.registry import ModelRecord, ModelRegistry

__all__ = ["RegistryClassifiers"]


class RegistryClassifiers:
    """`Classifiers` on a `ModelRegistry`; `policy` (from `AdmissionPolicy.from_settings`)
    wins over `allow_unlicensed`, which alone keeps every other default."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        policy: AdmissionPolicy | None = None,
        allow_unlicensed: bool = False,
        refresh_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._policy = policy or AdmissionPolicy(allow_unlicensed=allow_unlicensed)
        self._refresh_s = refresh_s
        self._clock = clock
        self._loaded: dict[tuple[str, int], LoadedClassifier] = {}
        self._production: dict[str, tuple[int, float]] = {}
        self._lock = asyncio.Lock()

    async def classifier(self, name: str, version: int | None) -> LoadedClassifier:
        """Return `name` at `version` (None: production), admitting and loading it once."""
        if version is None:
            known = self._production.get(name)
            if known and self._clock() - known[1] < self._refresh_s:
                version = known[0]
        if version is not None and (name, version) in self._loaded:
            return self._loaded[(name, version)]
        async with self._lock:
            record = await self._registry.get(name, version)
            if version is None:
                self._production[name] = (record.version, self._clock())
            key = (record.name, record.version)
            if key not in self._loaded:
                self._loaded[key] = await asyncio.to_thread(self._admit_and_load, record)
            return self._loaded[key]

    async def preload(self, name: str, version: int) -> None:
        """Admit and load `name` at `version` before a request needs it."""
        await self.classifier(name, version)

    def forget_production(self, name: str | None) -> None:
        """Look `name`'s (None: every model's) production version up again at its next use
        (it may have moved)."""
        if name is None:
            self._production.clear()
        else:
            self._production.pop(name, None)

    def _admit_and_load(self, record: ModelRecord) -> LoadedClassifier:
        return load_classifier(admit(record, self._policy))

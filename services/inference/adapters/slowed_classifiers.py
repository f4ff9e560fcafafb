"""Test only: classifiers made slow on purpose, so a test can show that the loop's latency
guardrail rolls a slow candidate back (`PILLARS_TEST_MODEL_DELAYS_MS`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from services.inference.ports import Classifiers
from shared.models.classifiers import LoadedClassifier

__all__ = ["SlowedClassifiers"]


class SlowedClassifiers:
    """`Classifiers` that wait `delays_ms["name:version"]` before each use of that version."""

    def __init__(self, inner: Classifiers, delays_ms: Mapping[str, float]) -> None:
        self._inner = inner
        self._delays_ms = dict(delays_ms)

    async def classifier(self, name: str, version: int | None) -> LoadedClassifier:
        """Return the inner classifier, after its version's delay, if it has one."""
        model = await self._inner.classifier(name, version)
        delay_ms = self._delays_ms.get(f"{model.name}:{model.version}", 0.0)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        return model

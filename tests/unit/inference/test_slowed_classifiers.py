"""Test-only slowed classifiers: only the version named waits, by the delay named."""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.inference.adapters.slowed_classifiers import SlowedClassifiers
from shared.models.classifiers import LoadedClassifier


@dataclass
class Named:
    name: str
    version: int


class Versions:
    """Classifiers that hand out a placeholder per (name, version)."""

    async def classifier(self, name: str, version: int | None) -> LoadedClassifier:
        return Named(name, version or 1)  # type: ignore[return-value]


async def timed(classifiers: SlowedClassifiers, name: str, version: int | None) -> float:
    began = time.perf_counter()
    await classifiers.classifier(name, version)
    return (time.perf_counter() - began) * 1000


async def test_only_the_named_version_is_slowed() -> None:
    slowed = SlowedClassifiers(Versions(), {"sentiment:2": 120.0})
    assert await timed(slowed, "sentiment", 2) >= 115
    assert await timed(slowed, "sentiment", None) < 60  # production, v1
    assert await timed(slowed, "other", 2) < 60

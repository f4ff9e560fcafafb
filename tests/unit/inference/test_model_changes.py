"""A registered version is taken up at run time: admitted and loaded before any request
needs it, the production lookup refreshed; a refused one is never served."""

from __future__ import annotations

import pytest

from services.inference.model_changes import take_up_model
from shared.contracts.events import ModelRegistered
from shared.models.refusal import ModelRefused


class RecordingVersions:
    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.loaded: list[tuple[str, int]] = []
        self.forgotten: list[str | None] = []

    async def preload(self, name: str, version: int) -> None:
        if self.refuse:
            raise ModelRefused(f"{name} v{version}: would construct numpy.testing.runstring")
        self.loaded.append((name, version))

    def forget_production(self, name: str | None) -> None:
        self.forgotten.append(name)


def registered(**fields: object) -> ModelRegistered:
    return ModelRegistered(tenant="acme", model="sentiment", **fields)  # type: ignore[arg-type]


async def test_a_new_version_is_loaded_before_it_is_needed() -> None:
    versions = RecordingVersions()
    await take_up_model(registered(version=4), models=versions)
    assert versions.loaded == [("sentiment", 4)]
    assert versions.forgotten == ["sentiment"]


async def test_a_refused_or_unregistered_version_is_never_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refusing = RecordingVersions(refuse=True)
    await take_up_model(registered(version=5), models=refusing)
    assert refusing.loaded == []
    assert "sentiment v5 is refused, never served" in caplog.text
    nothing = RecordingVersions()
    await take_up_model(registered(admitted=False, refusal="too few labels"), models=nothing)
    assert nothing.loaded == []
    assert "too few labels" in caplog.text

"""Experiments as data: the version in force in a process follows newer announcements
only, and a replica catches up with a stored version it missed. `InMemoryExperimentStore`
is the store's fake for the services' tests (the real one runs in
tests/integration/test_experiments_runtime.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from shared.contracts.events import ExperimentChanged
from shared.experiment_store import ExperimentVersion, LiveExperiment, newer_stored
from shared.experiments import Arm, Experiment, serving_arms

V1 = Experiment(name="exp", arms=(Arm(name="a", weight=1), Arm(name="b", weight=1)))
V2 = Experiment(name="exp", arms=(Arm(name="a", weight=1), Arm(name="b", weight=3)))


class InMemoryExperimentStore:
    """`ExperimentStore` in a dict, versions numbered like the Postgres table."""

    def __init__(self) -> None:
        self.versions: dict[str, list[ExperimentVersion]] = {}
        self.clock = datetime(2026, 12, 1, tzinfo=UTC)

    async def write(self, experiment: Experiment, *, reason: str, actor: str) -> ExperimentVersion:
        rows = self.versions.setdefault(experiment.name, [])
        self.clock += timedelta(seconds=1)
        stored = ExperimentVersion(experiment, len(rows) + 1, reason, actor, self.clock)
        rows.append(stored)
        return stored

    async def seed(self, experiment: Experiment) -> ExperimentVersion:
        found = await self.current(experiment.name)
        if found is not None:
            return found
        return await self.write(experiment, reason="seeded from PILLARS_EXPERIMENT", actor="seed")

    async def current(self, name: str) -> ExperimentVersion | None:
        rows = self.versions.get(name)
        return rows[-1] if rows else None


def changed(experiment: Experiment, version: int, name: str = "exp") -> ExperimentChanged:
    return ExperimentChanged(
        tenant="platform",
        name=name,
        version=version,
        experiment=experiment.model_copy(update={"name": name}),
        reason="test",
        actor="cli",
    )


def test_a_newer_version_goes_in_force_and_the_switch_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    live = LiveExperiment(V1, 1)
    with caplog.at_level(logging.INFO, logger="shared.experiment_store"):
        assert live.apply(changed(V2, 2))
    assert (live.current, live.version) == (V2, 2)
    assert "experiment exp switched v1 -> v2 (reason: test; by cli)" in caplog.text


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_or_repeated_version_changes_nothing(version: int) -> None:
    live = LiveExperiment(V2, 2)
    assert not live.is_newer(changed(V1, version))
    assert not live.apply(changed(V1, version))
    assert (live.current, live.version) == (V2, 2)


def test_another_experiments_version_changes_nothing_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    live = LiveExperiment(V1, 1)
    with caplog.at_level(logging.INFO, logger="shared.experiment_store"):
        assert not live.apply(changed(V2, 7, name="other"))
    assert (live.current, live.version) == (V1, 1)
    assert "this process follows exp" in caplog.text


def test_the_announcement_carries_the_stored_version() -> None:
    stored = ExperimentVersion(V2, 3, "more b", "loop", datetime(2026, 12, 1, tzinfo=UTC))
    event = stored.announcement()
    assert (event.name, event.version, event.experiment, event.reason, event.actor) == (
        "exp",
        3,
        V2,
        "more b",
        "loop",
    )
    assert event.tenant == "platform"
    assert LiveExperiment.of(stored).version == 3


async def test_seeding_stores_the_setting_once_then_the_stored_version_wins() -> None:
    store = InMemoryExperimentStore()
    assert (await store.seed(V1)).version == 1
    await store.write(V2, reason="more b", actor="cli")
    assert (await store.seed(V1)).experiment == V2  # a restart keeps the change


async def test_a_replica_catches_up_with_a_version_it_missed() -> None:
    store = InMemoryExperimentStore()
    live = LiveExperiment.of(await store.seed(V1))
    assert await newer_stored(store, live) is None
    await store.write(V2, reason="more b", actor="cli")
    missed = await newer_stored(store, live)
    assert missed is not None
    assert (missed.version, missed.experiment) == (2, V2)
    assert live.apply(missed)
    assert await newer_stored(store, live) is None


def test_only_live_arms_with_weight_serve() -> None:
    experiment = Experiment(
        name="exp",
        arms=(
            Arm(name="a", weight=1),
            Arm(name="kept", weight=0),
            Arm(name="s", weight=1, shadow=True),
        ),
    )
    assert [arm.name for arm in serving_arms(experiment)] == ["a"]

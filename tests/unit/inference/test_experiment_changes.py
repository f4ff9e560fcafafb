"""Inference catches up with a stored version it missed, and never with one it cannot
serve."""

from __future__ import annotations

from services.inference.config import CATALOG
from services.inference.experiment_changes import catch_up
from services.inference.solutions import load_solutions
from shared.experiment_store import LiveExperiment
from shared.experiments import Arm, Experiment
from tests.unit.shared.test_experiment_store import InMemoryExperimentStore

SOLUTIONS = load_solutions(CATALOG)


async def test_a_missed_version_is_caught_up_unless_a_solution_is_missing() -> None:
    store = InMemoryExperimentStore()
    live = LiveExperiment.of(await store.seed(Experiment()))
    router = Experiment(arms=(Arm(name="router", solution="router"),))
    await store.write(router, reason="", actor="cli")
    await catch_up(store=store, live=live, solutions=SOLUTIONS)
    assert (live.version, live.current) == (2, router)
    await store.write(Experiment(arms=(Arm(name="x", solution="gone"),)), reason="", actor="cli")
    await catch_up(store=store, live=live, solutions=SOLUTIONS)  # refused, logged, no raise
    assert (live.version, live.current) == (2, router)

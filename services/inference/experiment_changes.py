"""The experiment in force in an inference replica: an announced version replaces it only
when this replica has every solution its arms name."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

from services.inference.ports import ModelVersions
from services.inference.solutions import Solution, SolutionError, arms_solutions
from shared.contracts.events import ExperimentChanged
from shared.experiment_store import ExperimentStore, LiveExperiment, newer_stored
from shared.kit.deadletter import Rejected

__all__ = ["catch_up", "switch_experiment"]

log = logging.getLogger(__name__)


def switch_experiment(
    change: ExperimentChanged,
    *,
    live: LiveExperiment,
    solutions: Mapping[str, Solution],
    models: ModelVersions | None = None,
) -> None:
    """Put an announced experiment version in force if it is newer than the live one and
    every arm's solution is here; one naming a missing solution is refused (Rejected: it
    goes to the dead-letter topic with the reason) and the live version stays in force.
    A change may follow a promotion (the loop's), so `models` look production up afresh."""
    if models is not None:
        models.forget_production(None)
    if not live.is_newer(change):
        live.apply(change)  # changes nothing; says why when it is another experiment
        return
    try:
        arms_solutions(change.experiment, dict(solutions))
    except SolutionError as exc:
        log.error(
            "experiment %s v%d refused: %s; v%d stays in force",
            change.name,
            change.version,
            exc,
            live.version,
        )
        raise Rejected(
            f"experiment {change.name!r} v{change.version} refused: {exc}; "
            f"v{live.version} stays in force"
        ) from exc
    live.apply(change)


async def catch_up(
    *, store: ExperimentStore, live: LiveExperiment, solutions: Mapping[str, Solution]
) -> None:
    """Put the stored version in force if it is newer than the live one and its solutions
    are here: an announcement this replica could not have seen (made while it started)
    still reaches it."""
    change = await newer_stored(store, live)
    if change is not None:
        # Logged by the switch; the next round says it again until the store is fixed.
        with contextlib.suppress(Rejected):
            switch_experiment(change, live=live, solutions=solutions)

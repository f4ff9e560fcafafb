"""The loop's state folded from its recorded steps: a replica taking over the lead
continues where the last one stopped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.evaluator.loop.state import LoopState
from shared.contracts.events import LoopDecision

pytestmark = pytest.mark.loop

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def step(minute: int, name: str, version: int | None = None, **figures: float) -> LoopDecision:
    return LoopDecision(
        tenant="platform",
        occurred_at=T0 + timedelta(minutes=minute),
        model="m",
        step=name,  # type: ignore[arg-type]
        candidate_version=version,
        reason="",
        figures=figures,
    )


def test_a_whole_lifecycle_folds_to_the_promoted_production() -> None:
    history = [
        step(0, "triggered"),
        step(5, "trained", 2),
        step(5, "shadowing", 2),
        step(10, "challenging", 2, step=0, share=0.1, challenger_labelled=0),
        step(20, "challenging", 2, step=1, share=0.5, challenger_labelled=200),
    ]
    during = LoopState.of("m", history)
    assert (during.phase, during.candidate, during.step, during.step_labelled) == (
        "challenging",
        2,
        1,
        200,
    )
    assert during.since == T0 + timedelta(minutes=10)  # the challenge's start, not the step's
    assert during.last_training == T0
    done = LoopState.of("m", [*history, step(30, "promoted", 2)])
    assert (done.phase, done.candidate, done.production) == ("idle", None, 2)
    assert done.last_promotion == T0 + timedelta(minutes=30)
    assert done.cooling_down(T0 + timedelta(minutes=40), 3600)
    assert not done.cooling_down(T0 + timedelta(minutes=91), 3600)


def test_an_end_for_another_version_leaves_the_one_in_flight() -> None:
    state = LoopState.of("m", [step(0, "shadowing", 2), step(1, "archived", 3)])
    assert (state.phase, state.candidate) == ("shadowing", 2)
    assert LoopState.of("m", [step(0, "shadowing", 2), step(1, "rolled_back", 2)]).phase == "idle"

"""Where the loop stands for one model, folded from the decisions it recorded.

Every step the loop takes is a row (and a `LoopDecision` event); the state is what those
rows add up to, so a replica that takes over the lead continues where the last one left.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.contracts.events import LoopDecision

__all__ = ["LoopState", "Phase"]

# idle: nothing in flight; training: a training was asked for (or a candidate registered
# and awaits the gate); shadowing and challenging: the candidate is on live traffic.
Phase = Literal["idle", "training", "shadowing", "challenging"]
_ENDS = frozenset({"rejected_offline", "archived", "rolled_back"})


@dataclass(frozen=True)
class LoopState:
    """A model's place in the loop: its phase, candidate, challenger step and history."""

    model: str
    phase: Phase = "idle"
    candidate: int | None = None
    production: int | None = None
    since: datetime | None = None  # when the phase began
    step: int = 0  # index of the challenger's share in the configured steps
    step_since: datetime | None = None
    step_labelled: int = 0  # the challenger's labelled predictions when the step began
    last_training: datetime | None = None  # labels after this are new
    last_promotion: datetime | None = None

    @classmethod
    def of(cls, model: str, decisions: Iterable[LoopDecision]) -> LoopState:
        """Return the state the model's decisions (oldest first) lead to."""
        state = cls(model)
        for decision in decisions:
            state = state.after(decision)
        return state

    def after(self, decision: LoopDecision) -> LoopState:
        """Return the state once `decision` is taken."""
        at, step = decision.occurred_at, decision.step
        version = decision.candidate_version
        state = self
        if decision.production_version is not None:
            state = dataclasses.replace(state, production=decision.production_version)
        if step == "triggered":
            return dataclasses.replace(
                state, phase="training", candidate=None, since=at, last_training=at
            )
        if step == "trained":
            # A registration nobody here asked for (`pillars retrain`) counts from now.
            trained = state.last_training if state.phase == "training" else at
            return dataclasses.replace(
                state, phase="training", candidate=version, since=at, last_training=trained
            )
        if step == "shadowing":
            return dataclasses.replace(state, phase="shadowing", candidate=version, since=at)
        if step == "challenging":
            return dataclasses.replace(
                state,
                phase="challenging",
                candidate=version,
                since=state.since if state.phase == "challenging" else at,
                step=int(decision.figures.get("step", 0)),
                step_since=at,
                step_labelled=int(decision.figures.get("challenger_labelled", 0)),
            )
        if step == "promoted":
            return dataclasses.replace(state._idle(at), production=version, last_promotion=at)
        # An end for another version (one that came while this one was in flight) leaves
        # this one where it is.
        if step in _ENDS and (version is None or version == state.candidate):
            return state._idle(at)
        return state

    def _idle(self, at: datetime) -> LoopState:
        return dataclasses.replace(
            self, phase="idle", candidate=None, since=at, step=0, step_since=None, step_labelled=0
        )

    def cooling_down(self, now: datetime, cooldown_s: float) -> bool:
        """Return whether the last promotion was less than `cooldown_s` ago."""
        if self.last_promotion is None:
            return False
        return (now - self.last_promotion).total_seconds() < cooldown_s

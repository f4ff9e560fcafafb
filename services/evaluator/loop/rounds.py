"""One round of the loop, in the leading evaluator replica: for each managed model, fold its
recorded steps into its state, observe, decide with the policy, act, and record each step
(a row in Postgres and a `LoopDecision` on the `loop` topic)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.evaluator.config import EvaluatorSettings, LoopModel
from services.evaluator.loop.act import Publish, carry_out
from services.evaluator.loop.observe import observe
from services.evaluator.loop.policy import LoopPolicy
from services.evaluator.loop.ports import LoopPorts
from services.evaluator.loop.state import LoopState
from services.evaluator.ports import Leadership, ScoreBook
from services.evaluator.sequential import SequentialTest
from shared.contracts.events import LoopDecision, ModelRegistered, utcnow
from shared.contracts.topics import Topic

__all__ = ["LoopRunner", "keep_registration", "loop_if_leading"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopRunner:
    """The loop for the models it manages: its policy, its ports and what it reads."""

    models: tuple[LoopModel, ...]
    policy: LoopPolicy
    ports: LoopPorts
    book: ScoreBook
    test: SequentialTest
    window_s: float = 3600.0
    holdout_fraction: float = 0.2
    business_metric: str | None = None
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def of(
        cls, settings: EvaluatorSettings, *, ports: LoopPorts, book: ScoreBook, test: SequentialTest
    ) -> LoopRunner:
        """Return the loop the settings describe."""
        return cls(
            models=tuple(settings.loop_models),
            policy=LoopPolicy.from_settings(settings),
            ports=ports,
            book=book,
            test=test,
            window_s=settings.evaluator_window_s,
            holdout_fraction=settings.loop_holdout_fraction,
            business_metric=settings.loop_business_metric,
        )

    async def round(self, publish: Publish) -> list[LoopDecision]:
        """Advance every managed model by what it is due; return the steps taken."""
        taken: list[LoopDecision] = []
        for model in self.models:
            try:
                taken += await self.advance(model, publish)
            except Exception:  # one model's trouble (a missing arm) must not stall the others
                log.exception("loop: model %s could not advance this round", model.name)
        return taken

    async def advance(self, model: LoopModel, publish: Publish) -> list[LoopDecision]:
        """Decide and act for one model; its steps are recorded once their actions are done."""
        journal = self.ports.journal
        state = LoopState.of(model.name, await journal.decisions(model.name))
        seen = await observe(
            model,
            state,
            now=self.clock(),
            ports=self.ports,
            book=self.book,
            test=self.test,
            window_s=self.window_s,
            business_metric=self.business_metric,
        )
        decisions = self.policy.decide(state, seen)
        # Every action first, then the records: a round that fails half-way records nothing
        # and the next one redoes the (idempotent) actions, instead of repeating steps.
        for decision in decisions:
            await carry_out(
                decision,
                model=model,
                seen=seen,
                ports=self.ports,
                book=self.book,
                publish=publish,
                holdout_fraction=self.holdout_fraction,
            )
        for decision in decisions:
            await journal.record(decision)
            await publish(Topic.LOOP, decision)
        await journal.dealt_with([r.event_id for r in seen.registrations])
        return decisions


async def loop_if_leading(
    *, leadership: Leadership, loop: LoopRunner, publish: Publish
) -> Sequence[LoopDecision]:
    """Run a round of the loop if this replica is the one that reports (and so decides)."""
    if not loop.models or not await leadership.leading():
        return []
    return await loop.round(publish)


async def keep_registration(registration: ModelRegistered, *, loop: LoopRunner) -> None:
    """Keep a registered model of a managed name for the next round, which gates it."""
    if any(model.name == registration.model for model in loop.models):
        await loop.ports.journal.keep_registration(registration)

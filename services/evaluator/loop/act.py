"""The loop's decisions carried out: training asked for, experiments changed and announced,
registry stages moved, and the verdict that decided published as an evaluation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from services.evaluator.config import LoopModel
from services.evaluator.loop.arms import (
    with_challenger,
    with_production,
    with_shadow,
    without_candidate,
)
from services.evaluator.loop.observe import FEEDBACK
from services.evaluator.loop.ports import LoopPorts
from services.evaluator.loop.signals import Observations
from services.evaluator.ports import ScoreBook
from services.evaluator.reporting import REPORT_TENANT
from shared.contracts.events import (
    Evaluation,
    Event,
    LoopDecision,
    ModelRegistered,
    TrainingRequested,
    derived_id,
)
from shared.contracts.experiments import Experiment
from shared.contracts.topics import Topic

__all__ = ["Publish", "carry_out", "promotion", "training_request"]

Publish = Callable[[Topic, Event], Awaitable[None]]
Edit = Callable[[Experiment], Experiment]


def training_request(
    decision: LoopDecision, model: LoopModel, holdout_fraction: float
) -> TrainingRequested:
    """Return the training a `triggered` decision asks for: the model's tenant's labels up
    to the decision, the newest `holdout_fraction` held out for the offline gate."""
    return TrainingRequested(
        event_id=derived_id(decision.event_id, "training"),
        tenant=model.tenant,
        model=model.name,
        kind=model.kind,
        dataset=FEEDBACK,
        labels_until=decision.occurred_at,
        holdout_fraction=holdout_fraction,
        reason=decision.reason,
    )


def promotion(decision: LoopDecision, model: LoopModel, version: int) -> ModelRegistered:
    """Return the announcement that `version` is now the model's production version, so
    every inference replica has it loaded and looks its production version up again."""
    return ModelRegistered(
        event_id=derived_id(decision.event_id, "production"),
        occurred_at=decision.occurred_at,
        tenant=model.tenant,
        model=model.name,
        version=version,
        kind=model.kind,
        stage="production",
        metrics={k: v for k, v in decision.figures.items() if k.endswith("accuracy")},
    )


async def _change(
    model: LoopModel, decision: LoopDecision, edit: Edit, ports: LoopPorts, publish: Publish
) -> None:
    """Write the edited experiment as its next version and announce it (unless unchanged)."""
    found = await ports.experiments.current(model.experiment)
    if found is None:
        raise LookupError(
            f"experiment {model.experiment!r} of model {model.name!r} has no version in "
            "Postgres yet: ingestion seeds it from PILLARS_EXPERIMENT when it starts, or set "
            "it with `pillars experiment set`"
        )
    changed = edit(found)
    if changed == found:
        return
    reason = f"{model.name} {decision.step}: {decision.reason}"
    await publish(Topic.EXPERIMENTS, await ports.experiments.write(changed, reason=reason))


async def _publish_verdict(
    decision: LoopDecision,
    model: LoopModel,
    seen: Observations,
    book: ScoreBook,
    publish: Publish,
) -> None:
    """Publish (and keep, for `pillars report`) the verdict a decision rests on, as the
    evaluation its `evaluation_id` names, so the decision's trace leads to it."""
    verdict = next(
        (
            found
            for found in (seen.accuracy, seen.business)
            if found is not None and found.evaluation_id == decision.evaluation_id
        ),
        None,
    )
    if verdict is None:
        return
    evaluation = Evaluation(
        event_id=verdict.evaluation_id,
        occurred_at=decision.occurred_at,
        tenant=REPORT_TENANT,
        kind="ab_decision",
        subject=model.experiment,
        experiment=model.experiment,
        variant=verdict.verdict.treatment,
        verdict=verdict.verdict,
    )
    await book.save_report([evaluation])
    await publish(Topic.EVALUATIONS, evaluation)


async def carry_out(
    decision: LoopDecision,
    *,
    model: LoopModel,
    seen: Observations,
    ports: LoopPorts,
    book: ScoreBook,
    publish: Publish,
    holdout_fraction: float,
) -> None:
    """Do what `decision` says; each action is idempotent, so a round that failed half-way
    redoes it safely (the decision is recorded only after its actions)."""
    version = decision.candidate_version
    if decision.evaluation_id is not None:
        await _publish_verdict(decision, model, seen, book, publish)
    if decision.step == "triggered":
        await publish(Topic.TRAINING, training_request(decision, model, holdout_fraction))
    if version is None:
        return
    if decision.step == "shadowing":
        await _change(
            model, decision, partial(with_shadow, model=model, version=version), ports, publish
        )
    elif decision.step == "challenging":
        share = decision.figures["share"]
        edit = partial(with_challenger, model=model, version=version, share=share)
        await _change(model, decision, edit, ports, publish)
    elif decision.step == "promoted":
        # The registry first: the production arm then serves the new production version.
        await ports.stages.promote(model.name, version, "production")
        edit = partial(with_production, model=model, version=version)
        await _change(model, decision, edit, ports, publish)
        await publish(Topic.MODELS, promotion(decision, model, version))
    elif decision.step in ("archived", "rolled_back", "rejected_offline"):
        # Traffic off the candidate first, then its stage (inference serves no archived one).
        if decision.step != "rejected_offline":
            edit = partial(without_candidate, model=model, version=version)
            await _change(model, decision, edit, ports, publish)
        await ports.stages.promote(model.name, version, "archived")

"""`pillars train --from FILE` and `--from-feedback`: store a user's labels (checked first),
ask the running trainer for a candidate, wait for its answer and print it."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import ValidationError

from services.trainer.config import TrainerSettings
from services.trainer.labelled_file import (
    FileProblem,
    check_counts,
    check_known_labels,
    read_labelled_file,
)
from shared.contracts.events import Event, ModelRegistered, TrainingRequested
from shared.contracts.topics import Topic
from shared.kit.settings import PillarsSettings
from shared.platform.cli.common import client_for, fail, settings_from

if TYPE_CHECKING:
    from shared.models.pg_registry import PgModelRegistry

__all__ = ["ask_trainer", "train_by_request"]


def train_by_request(args: argparse.Namespace) -> int:
    """Run `pillars train --from FILE | --from-feedback --name NAME`; return the exit status."""
    settings = settings_from(args)
    dataset = "feedback" if args.from_feedback else f"file:{args.name}"
    try:
        request = TrainingRequested(
            tenant=args.tenant,
            model=args.name,
            kind=args.kind,
            dataset=dataset,
            holdout_fraction=args.holdout,
            seed=args.seed,
            licence=args.licence or TrainingRequested.model_fields["licence"].default,
            reason=f"pillars train --from {args.from_file or 'feedback'}",
        )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        return fail(f"cannot ask for that training: {problems}")
    try:
        answer = asyncio.run(_store_and_ask(args, settings, request))
    except (FileProblem, RuntimeError) as exc:
        return fail(exc)
    return _print(answer, promoted=args.promote)


async def _known_labels(registry: PgModelRegistry, name: str) -> tuple[str, ...]:
    """Return the labels model `name` has (its production version's, else its first's)."""
    from shared.models.pg_registry import ModelNotFound

    for version in (None, 1):
        try:
            return (await registry.get(name, version)).labels
        except ModelNotFound:
            continue
    return ()


async def _store_and_ask(
    args: argparse.Namespace, settings: PillarsSettings, request: TrainingRequested
) -> ModelRegistered:
    from shared.kit.db import create_pool
    from shared.labels import PgLabelStore
    from shared.models.pg_registry import PgModelRegistry
    from shared.platform.runtime.stack import read_endpoints

    rows = []
    if args.from_file is not None:
        rows = read_labelled_file(args.from_file, tenant=request.tenant, dataset=request.dataset)
        minimum = TrainerSettings(data_dir=settings.data_dir).trainer_min_per_class
        check_counts(rows, minimum, args.from_file)
    pool = await create_pool(read_endpoints(settings).database_url)
    try:
        registry = PgModelRegistry(pool)
        await registry.create_schema()
        if rows:
            known = await _known_labels(registry, request.model)
            check_known_labels(rows, known, request.model, args.from_file)
            store = PgLabelStore(pool)
            await store.create_schema()
            await store.add_rows(rows, replace=True)
            print(f"stored {len(rows)} labels as {request.dataset} of tenant {request.tenant}")
        answer = await ask_trainer(settings, request, timeout_s=args.timeout)
        if args.promote and answer.admitted and answer.version is not None:
            await registry.promote(answer.model, answer.version, "production")
    finally:
        await pool.close()
    return answer


def _answers(request: TrainingRequested) -> Callable[[list[Event]], bool]:
    def done(events: list[Event]) -> bool:
        return any(
            isinstance(e, ModelRegistered) and e.requested_by == request.event_id for e in events
        )

    return done


async def ask_trainer(
    settings: PillarsSettings, request: TrainingRequested, *, timeout_s: float
) -> ModelRegistered:
    """Publish `request` and return the trainer's ModelRegistered answering it.

    Raises RuntimeError naming the timeout when no answer arrives within `timeout_s`.
    """
    async with client_for(settings, "/pillars/train") as client:
        watch = await client.watch(Topic.MODELS)  # before publishing: the answer is after
        try:
            await client.publish(Topic.TRAINING, request)
            print(
                f"asked the trainer for {request.model} ({request.kind}) on {request.dataset} "
                f"of tenant {request.tenant}; waiting up to {timeout_s:g}s...",
                flush=True,
            )
            events = await watch.collect(_answers(request), timeout_s)
        except TimeoutError:
            raise RuntimeError(
                f"no answer from the trainer within {timeout_s:g}s: is it running (`pillars "
                "up` starts it)? A large training set may need a longer --timeout"
            ) from None
        finally:
            await watch.stop()
    return next(
        e for e in events if isinstance(e, ModelRegistered) and e.requested_by == request.event_id
    )


def _print(answer: ModelRegistered, *, promoted: bool) -> int:
    if not answer.admitted or answer.version is None:
        return fail(f"the trainer refused: {answer.refusal}", code=1)
    stage = "production" if promoted else answer.stage
    print(f"{answer.model} v{answer.version} ({answer.kind}) registered, stage {stage}")
    print(f"  trained on: {answer.training_data}")
    for key, value in sorted(answer.metrics.items()):
        print(f"  {key}: {value:.4g}")
    return 0

"""The evaluator's commands: `pillars report` prints and renders what it decided, `pillars
loop status` each managed model's lineage, `pillars retrain NAME` asks for a training by hand
(the loop adopts the model it registers)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from shared.platform.cli.common import Commands, client_for, fail, settings_from

if TYPE_CHECKING:
    from datetime import datetime

    import asyncpg

    from services.evaluator.config import EvaluatorSettings, LoopModel
    from shared.contracts.events import LoopDecision

__all__ = ["add_commands", "loop_model"]

T = TypeVar("T")
SOURCE = "/pillars/cli"


def add_commands(commands: Commands) -> None:
    """Add `report`, `loop status` and `retrain`."""
    report = commands.add_parser("report", help="per-arm metrics and A/B verdicts, and HTML")
    report.add_argument("--out", default="pillars-report.html", help="the HTML file to write")
    report.add_argument("--hours", type=float, help="only reports of the last HOURS")
    report.set_defaults(run=_report)
    loop = commands.add_parser("loop", help="the feedback loop's models, versions and steps")
    actions = loop.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="each managed model's lineage")
    status.add_argument("name", metavar="NAME", nargs="?", help="one model (default: all)")
    status.set_defaults(run=_loop_status)
    retrain = commands.add_parser(
        "retrain", help="ask for a training of a model the loop manages, now"
    )
    retrain.add_argument("name", metavar="NAME", help="the model's registry name")
    retrain.add_argument("--tenant", help="whose labels (default: the loop's configuration)")
    retrain.add_argument("--kind", choices=["logreg", "xgboost", "mlp"], help="model kind")
    retrain.add_argument("--reason", default="asked for by hand (pillars retrain)")
    retrain.set_defaults(run=_retrain)


def _evaluator_settings(args: argparse.Namespace) -> EvaluatorSettings:
    from services.evaluator.config import EvaluatorSettings

    return EvaluatorSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))


def _with_database(args: argparse.Namespace, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Run `work` on a pool to the platform's Postgres (RuntimeError says what is missing)."""
    from shared.kit.db import create_pool
    from shared.platform.runtime.stack import read_endpoints

    async def run() -> T:
        pool = await create_pool(read_endpoints(settings_from(args)).database_url)
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(run())


async def _loop_history(pool: asyncpg.Pool, since: datetime | None = None) -> list[LoopDecision]:
    """Return the loop's steps, or none when the evaluator never created its tables."""
    import asyncpg

    from services.evaluator.adapters.pg_loop_journal import PgLoopJournal

    try:
        return await PgLoopJournal(pool).decisions(since=since)
    except asyncpg.UndefinedTableError:
        return []


def _report(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from services.evaluator.adapters.pg_score_book import PgScoreBook
    from services.evaluator.report import ReportView, format_table, render_html
    from shared.contracts.events import utcnow

    since = utcnow() - timedelta(hours=args.hours) if args.hours else None

    async def history(pool: asyncpg.Pool) -> ReportView:
        evaluations = await PgScoreBook(pool).history(since)
        return ReportView.of(evaluations, await _loop_history(pool, since))

    try:
        view = _with_database(args, history)
    except RuntimeError as exc:
        return fail(exc)
    print(format_table(view))
    out = Path(args.out)
    out.write_text(render_html(view, utcnow()), encoding="utf-8")
    print(f"\nreport written to {out.resolve()}")
    return 0


def loop_model(name: str, stored: list[LoopModel], configured: list[LoopModel]) -> LoopModel:
    """Return the loop's configuration of `name`: as the running evaluator stored it, else
    as this environment's PILLARS_LOOP_MODELS says; LookupError names the known ones."""
    for model in [*stored, *configured]:
        if model.name == name:
            return model
    known = sorted({m.name for m in [*stored, *configured]})
    raise LookupError(
        f"model {name!r} is not managed by the loop (managed: {', '.join(known) or 'none'}): "
        "add it to PILLARS_LOOP_MODELS of the evaluator, or give --tenant and --kind"
    )


async def _managed(pool: asyncpg.Pool) -> list[LoopModel]:
    import asyncpg

    from services.evaluator.adapters.pg_loop_journal import PgLoopJournal

    try:
        return await PgLoopJournal(pool).managed()
    except asyncpg.UndefinedTableError:
        return []


def _loop_status(args: argparse.Namespace) -> int:
    from services.evaluator.adapters.loop_registry import RegistryStages
    from services.evaluator.loop.status import format_lineage

    configured = _evaluator_settings(args).loop_models

    async def lineages(pool: asyncpg.Pool) -> list[str]:
        stored = await _managed(pool)
        steps = await _loop_history(pool)
        models = {m.name: m for m in [*configured, *stored]}
        names = [args.name] if args.name else sorted(set(models) | {d.model for d in steps})
        stages = RegistryStages(pool)
        return [
            format_lineage(
                name,
                models.get(name),
                await stages.versions(name),
                [d for d in steps if d.model == name],
            )
            for name in names
        ]

    try:
        found = _with_database(args, lineages)
    except RuntimeError as exc:
        return fail(exc)
    print("\n\n".join(found) if found else "the loop manages no model (PILLARS_LOOP_MODELS)")
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from shared.contracts.events import TrainingRequested
    from shared.contracts.topics import Topic

    settings = _evaluator_settings(args)
    try:
        stored = _with_database(args, _managed)
        model = loop_model(args.name, stored, settings.loop_models)
    except LookupError as exc:
        if not (args.tenant and args.kind):
            return fail(exc)
        model = None
    except RuntimeError as exc:
        return fail(exc)
    request = TrainingRequested(
        tenant=args.tenant or (model.tenant if model else ""),
        model=args.name,
        kind=args.kind or (model.kind if model else "logreg"),
        holdout_fraction=settings.loop_holdout_fraction,
        reason=args.reason,
    )

    async def publish() -> None:
        async with client_for(settings, SOURCE) as client:
            await client.publish(Topic.TRAINING, request)

    try:
        asyncio.run(publish())
    except RuntimeError as exc:
        return fail(exc)
    print(
        f"asked the trainer for {request.kind} {request.model} on tenant {request.tenant}'s "
        f"labels (event {request.event_id}); the loop gates the model it registers: "
        f"`pillars loop status {request.model}`"
    )
    return 0

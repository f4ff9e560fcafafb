"""Experiments at run time: `pillars experiment show|set|promote|rollback`.

Each change is a new version in Postgres (by `cli`), announced on the `experiments` topic:
every ingestion and inference replica puts it in force within seconds, without a restart
(a replica that missed the announcement reads it within 30 s). Nothing is ever deleted:
a rollback writes an older version's body again as a new version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from shared.platform.cli.common import Commands, client_for, fail, settings_from

if TYPE_CHECKING:
    from shared.experiment_store import ExperimentVersion, PgExperimentStore
    from shared.experiments import Arm, Experiment
    from shared.kit.settings import PillarsSettings

__all__ = [
    "ExperimentChangeError",
    "add_commands",
    "describe_arm",
    "format_experiment",
    "read_experiment",
    "rollback_target",
]

T = TypeVar("T")
SOURCE = "/pillars/cli"
PROMOTE_HELP = (
    "Give ARM all the traffic: its weight becomes 1 (a shadow arm becomes live) and every "
    "other live arm is kept at weight 0. An arm at weight 0 serves nobody, so the users "
    "remembered on the other arms (sticky assignment) are assigned again and move to ARM; "
    "the kept arms still show what was compared, and a later version can give them "
    "traffic again (their former users stay where they moved)."
)
# What a change computes from the store: the experiment to put in force and why.
Change = Callable[["PgExperimentStore"], Awaitable[tuple["Experiment", str]]]


class ExperimentChangeError(ValueError):
    """A change the user asked for cannot be made; the message says why and what to do."""


def add_commands(commands: Commands) -> None:
    """Add `experiment show|set|promote|rollback`."""
    experiment = commands.add_parser(
        "experiment",
        help="show and change the experiments in force, at run time",
        description=__doc__,
    )
    actions = experiment.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="the version in force and the history")
    show.add_argument(
        "name", metavar="NAME", nargs="?", help="the experiment (default: every stored one)"
    )
    show.add_argument("--limit", type=int, default=20, help="versions of history to list")
    show.set_defaults(run=_show)
    put = actions.add_parser("set", help="put the experiment in FILE (JSON or YAML) in force")
    put.add_argument(
        "file", metavar="FILE", type=Path, help="an Experiment: name, salt, unit, arms"
    )
    put.set_defaults(run=_set)
    promote = actions.add_parser(
        "promote",
        help="give ARM all the traffic (others kept at weight 0)",
        description=PROMOTE_HELP,
    )
    promote.add_argument("arm", metavar="ARM", help="the arm to promote")
    promote.set_defaults(run=_promote)
    rollback = actions.add_parser(
        "rollback", help="put an older version in force again, as a new version"
    )
    rollback.add_argument(
        "--to",
        type=int,
        metavar="VERSION",
        help="the version to go back to (default: the newest earlier one that differs)",
    )
    rollback.set_defaults(run=_rollback)
    for changing in (put, promote, rollback):
        changing.add_argument("--reason", default="", help="why; kept with the version")
    for named in (promote, rollback):
        named.add_argument("--experiment", help="its name (default: the only stored one)")


def read_experiment(path: Path) -> Experiment:
    """Read and validate an Experiment from a JSON or YAML file; ExperimentChangeError
    names the file and every problem on one line."""
    import yaml
    from pydantic import ValidationError

    from shared.experiments import Experiment

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentChangeError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ExperimentChangeError(f"{path}: not JSON: line {exc.lineno}: {exc.msg}") from exc
    except yaml.YAMLError as exc:
        raise ExperimentChangeError(f"{path}: not YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise ExperimentChangeError(f"{path}: expected a mapping (name, salt, unit, arms)")
    try:
        return Experiment.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(experiment)'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ExperimentChangeError(f"{path}: {problems}") from exc


def rollback_target(history: Sequence[ExperimentVersion], to: int | None) -> ExperimentVersion:
    """Return the version a rollback goes back to: `to`, else the newest earlier version
    whose experiment differs from the one in force (`history` is newest first)."""
    current, *earlier = history
    if to is not None:
        found = next((v for v in history if v.version == to), None)
        if found is None:
            versions = ", ".join(f"v{v.version}" for v in history)
            raise ExperimentChangeError(f"no version {to} (there are {versions})")
        if found.version == current.version:
            raise ExperimentChangeError(f"v{to} is already in force")
        return found
    found = next((v for v in earlier if v.experiment != current.experiment), None)
    if found is None:
        raise ExperimentChangeError(
            f"nothing to roll back to: no earlier version differs from v{current.version}"
        )
    return found


def describe_arm(arm: Arm) -> str:
    """Return an arm in a few words: name, weight (or shadow), solution, depth, model."""
    parts = [arm.name, "shadow" if arm.shadow else f"{arm.weight:g}", arm.solution]
    if arm.top_k is not None:
        parts.append(f"top_k={arm.top_k}")
    if arm.model_version is not None:
        parts.append(f"model v{arm.model_version}")
    return " ".join(parts)


def format_experiment(history: Sequence[ExperimentVersion]) -> str:
    """Return the version in force (its arms as a table) and the history, newest first."""
    current = history[0]
    experiment = current.experiment
    lines = [
        f"experiment {experiment.name}: v{current.version} in force "
        f"(unit {experiment.unit}, salt {experiment.salt})",
        f"  {'arm':<16} {'weight':>7}  {'solution':<18} {'top_k':>5}  model_version",
    ]
    for arm in experiment.arms:
        weight = "shadow" if arm.shadow else f"{arm.weight:g}"
        top_k = "-" if arm.top_k is None else str(arm.top_k)
        model = "production" if arm.model_version is None else f"v{arm.model_version}"
        lines.append(f"  {arm.name:<16} {weight:>7}  {arm.solution:<18} {top_k:>5}  {model}")
    lines.append("history:")
    for v in history:
        when = v.created_at.strftime("%Y-%m-%d %H:%M:%S %Z")
        arms = "; ".join(describe_arm(arm) for arm in v.experiment.arms)
        lines.append(f"  v{v.version:<4} {when}  {v.actor or '-':<6} {v.reason or '-'}")
        lines.append(f"        arms: {arms}")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    async def histories(store: PgExperimentStore) -> list[list[ExperimentVersion]]:
        names = [args.name] if args.name else await store.names()
        return [await store.history(name, limit=args.limit) for name in names]

    try:
        found = asyncio.run(_with_store(settings_from(args), histories))
    except RuntimeError as exc:
        return fail(exc)
    if not any(found):
        what = f"no experiment {args.name!r}" if args.name else "no experiments"
        return fail(f"{what} stored yet: the services store PILLARS_EXPERIMENT when they start")
    print("\n\n".join(format_experiment(history) for history in found if history))
    return 0


def _set(args: argparse.Namespace) -> int:
    try:
        experiment = read_experiment(args.file)  # before connecting: a bad file fails fast
    except ExperimentChangeError as exc:
        return fail(exc)

    async def change(store: PgExperimentStore) -> tuple[Experiment, str]:
        if experiment.name not in await store.names():
            print(
                f"note: {experiment.name!r} is a new experiment; the services follow the one "
                "their PILLARS_EXPERIMENT names",
                file=sys.stderr,
            )
        return experiment, args.reason or f"set from {args.file.name}"

    return _apply(args, change)


def _promote(args: argparse.Namespace) -> int:
    from shared.experiments import promoted

    async def change(store: PgExperimentStore) -> tuple[Experiment, str]:
        current = (await _history(store, args.experiment, limit=1))[0]
        experiment = promoted(current.experiment, args.arm)  # ValueError: no such arm
        if experiment == current.experiment:
            raise ExperimentChangeError(f"arm {args.arm!r} already takes all the traffic")
        return experiment, args.reason or f"promote {args.arm}"

    return _apply(args, change)


def _rollback(args: argparse.Namespace) -> int:
    async def change(store: PgExperimentStore) -> tuple[Experiment, str]:
        history = await _history(store, args.experiment, limit=10_000)
        target = rollback_target(history, args.to)
        reason = f"rollback to v{target.version}"
        return target.experiment, f"{reason}: {args.reason}" if args.reason else reason

    return _apply(args, change)


async def _history(
    store: PgExperimentStore, name: str | None, *, limit: int
) -> list[ExperimentVersion]:
    """Return the named experiment's history, or the only stored one's."""
    if name is None:
        names = await store.names()
        if len(names) != 1:
            stored = ", ".join(names) or "none yet"
            raise ExperimentChangeError(f"name the experiment with --experiment (stored: {stored})")
        name = names[0]
    history = await store.history(name, limit=limit)
    if not history:
        raise ExperimentChangeError(f"no experiment {name!r} is stored")
    return history


def _apply(args: argparse.Namespace, change: Change) -> int:
    """Write the change as a new version by `cli`, announce it, and say what is in force."""
    settings = settings_from(args)

    async def write(store: PgExperimentStore) -> tuple[ExperimentVersion, str | None]:
        experiment, reason = await change(store)
        written = await store.write(experiment, reason=reason, actor="cli")
        return written, await _announce(settings, written)

    try:
        written, problem = asyncio.run(_with_store(settings, write))
    except (ValueError, RuntimeError) as exc:  # ExperimentChangeError is a ValueError
        return fail(exc)
    print(f"experiment {written.experiment.name} v{written.version} in force: {written.reason}")
    for arm in written.experiment.arms:
        print(f"  {describe_arm(arm)}")
    if problem is not None:
        print(
            f"pillars: stored, but the announcement failed ({problem}); the replicas read "
            "it from the database within 30 s",
            file=sys.stderr,
        )
    return 0


async def _announce(settings: PillarsSettings, written: ExperimentVersion) -> str | None:
    """Publish the version's announcement; return what went wrong, if it did."""
    from aiokafka.errors import KafkaError

    from shared.contracts.topics import Topic

    try:
        async with client_for(settings, SOURCE) as client:
            await client.publish(Topic.EXPERIMENTS, written.announcement())
    except (KafkaError, OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def _with_store(
    settings: PillarsSettings, use: Callable[[PgExperimentStore], Awaitable[T]]
) -> T:
    """Run `use` with the platform's experiment store (RuntimeError: no platform found)."""
    from shared.experiment_store import PgExperimentStore
    from shared.kit.db import open_pool
    from shared.platform.runtime.stack import read_endpoints

    async with open_pool(read_endpoints(settings).database_url) as pool:
        store = PgExperimentStore(pool)
        await store.create_schema()
        return await use(store)

"""The `pillars` command: run the platform, try it, operate it.

Its commands come from the platform's own modules and from the services, which add theirs
through the `pillars.commands` entry points (`pyproject.toml`): the command line never
imports a service's internals.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from shared.platform.cli import admin, experiments, tryout, up
from shared.platform.cli.common import Commands, fail

__all__ = ["COMMAND_GROUP", "main"]

COMMAND_GROUP = "pillars.commands"


def _service_commands() -> list[Callable[[Commands], None]]:
    """Return each service's `add_commands`, in entry-point name order."""
    found = sorted(entry_points(group=COMMAND_GROUP), key=lambda point: point.name)
    return [point.load() for point in found]


def main(argv: list[str] | None = None) -> int:
    """Run the `pillars` command line."""
    parser = argparse.ArgumentParser(prog="pillars", description=__doc__)
    parser.add_argument("--data-dir", type=Path, help="overrides PILLARS_DATA_DIR")
    commands = parser.add_subparsers(dest="command", required=True)
    builtin: list[Callable[[Commands], None]] = [
        up.add_commands,
        tryout.add_commands,
        admin.add_commands,
        experiments.add_commands,
    ]
    for add_commands in builtin + _service_commands():
        add_commands(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from pydantic import ValidationError

    from shared.kit.settings import settings_problem

    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ValidationError as exc:
        if exc.title.endswith("Settings"):  # the environment is wrong, not pillars
            return fail(settings_problem(exc))
        raise

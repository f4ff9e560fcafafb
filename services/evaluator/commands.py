"""The evaluator's commands: `pillars report` prints and renders what it decided."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from shared.platform.cli.common import Commands, settings_from

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Add `report`."""
    report = commands.add_parser("report", help="per-arm metrics and A/B verdicts, and HTML")
    report.add_argument("--out", default="pillars-report.html", help="the HTML file to write")
    report.add_argument("--hours", type=float, help="only reports of the last HOURS")
    report.set_defaults(run=_report)


def _report(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from services.evaluator.adapters.pg_score_book import PgScoreBook
    from services.evaluator.report import ReportView, format_table, render_html
    from shared.contracts.events import Evaluation, utcnow
    from shared.kit.db import create_pool
    from shared.platform.runtime.stack import read_endpoints

    settings = settings_from(args)

    async def history() -> list[Evaluation]:
        pool = await create_pool(read_endpoints(settings).database_url)
        try:
            since = utcnow() - timedelta(hours=args.hours) if args.hours else None
            return await PgScoreBook(pool).history(since)
        finally:
            await pool.close()

    try:
        evaluations = asyncio.run(history())
    except RuntimeError as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2
    view = ReportView.of(evaluations)
    print(format_table(view))
    out = Path(args.out)
    out.write_text(render_html(view, utcnow()), encoding="utf-8")
    print(f"\nreport written to {out.resolve()}")
    return 0

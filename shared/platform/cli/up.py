"""`pillars up`: Kafka, Postgres, the services and the trace dashboard until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from shared.platform.cli.common import Commands, settings_from

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Add `up`."""
    up = commands.add_parser("up", help="run Kafka, Postgres and the services until Ctrl-C")
    up.add_argument(
        "--brokers",
        type=int,
        choices=range(1, 6),
        help="embedded Kafka nodes: 3 runs a KRaft cluster with replication 3 and "
        "min.insync.replicas 2 (overrides PILLARS_EMBEDDED_BROKERS)",
    )
    up.add_argument(
        "--secure",
        action="store_true",
        help="the embedded broker on SASL_SSL (SCRAM-SHA-512, TLS from a CA generated into "
        "the data directory), one principal per service, least-privilege ACLs",
    )
    up.set_defaults(run=_up)


def _up(args: argparse.Namespace) -> int:
    from shared.platform.acls import ADMIN
    from shared.platform.runtime.errors import RuntimeSetupError
    from shared.platform.runtime.stack import Stack

    settings = settings_from(args)
    if args.brokers is not None:
        settings = settings.model_copy(update={"embedded_brokers": args.brokers})
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = Stack(settings, secure=args.secure)
    try:
        print(f"pillars: data directory {settings.data_dir}", flush=True)
        endpoints = stack.start_infrastructure()
        brokers = settings.embedded_brokers
        kafka_kind = (
            "external"
            if not stack.kafka
            else f"embedded, {brokers} brokers, replication {stack.replication_factor}"
            if brokers > 1
            else "embedded"
        )
        if stack.secure:
            kafka_kind += ", SASL_SSL"
        pg_kind = "embedded" if stack.postgres else "external"
        print(f"  kafka     {endpoints.kafka_bootstrap_servers}  ({kafka_kind}, KRaft)")
        if stack.broker_security is not None:
            security = stack.broker_security
            print(
                f"            clients: SASL_SSL + SCRAM-SHA-512 (the platform as {ADMIN}, each "
                f"service as pillars-NAME; passwords in {security.folder}/credentials.json), "
                f"CA {security.ca_file}; ACLs from the topic map (`pillars acls`)"
            )
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
        keeper = stack.keeper()
        while not stop.wait(1.0):
            for restart in keeper.check():
                print(f"pillars: {restart.name} crashed; restarted ({restart.down_s:.1f} s down)")
            supervisor.restart_dead()
    except (RuntimeSetupError, RuntimeError) as exc:
        print(f"pillars: {exc}", file=sys.stderr)
        return 2
    finally:
        print("pillars: stopping...", flush=True)
        stack.stop()
        print("pillars: stopped.", flush=True)
    return 0

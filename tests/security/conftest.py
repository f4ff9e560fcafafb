"""The secure embedded broker (`pillars up --secure`'s own code), once per session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shared.contracts.topics import Topic, consumer_group
from shared.kit.kafka_admin import wait_for_members
from shared.kit.settings import PillarsSettings
from shared.platform.runtime.stack import Endpoints, Stack
from shared.platform.runtime.supervisor import Supervisor


@pytest.fixture(scope="session")
def secure_stack(tmp_path_factory: pytest.TempPathFactory, endpoints: Endpoints) -> Iterator[Stack]:
    """A SASL_SSL (SCRAM-SHA-512) broker with a generated CA, a principal per service and
    the topic map's ACLs, topics created by its admin; Postgres is the session's."""
    data_dir: Path = tmp_path_factory.mktemp("pillars-secure")
    settings = PillarsSettings(
        data_dir=data_dir, dashboard="none", database_url=endpoints.database_url
    )
    stack = Stack(settings, secure=True)
    try:
        stack.start_infrastructure()
        yield stack
    finally:
        stack.stop()


@dataclass
class SpanSink:
    """An OTLP/HTTP endpoint's address and the raw bodies of the spans posted to it."""

    url: str
    bodies: list[bytes] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)


@pytest.fixture(scope="session")
def span_sink() -> Iterator[SpanSink]:
    """An OTLP/HTTP endpoint that keeps the raw bodies of the spans posted to it."""
    sink = SpanSink("")

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            sink.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            sink.received.set()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sink.url = f"http://127.0.0.1:{server.server_address[1]}"
        yield sink
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
async def secure_ingestion(secure_stack: Stack, span_sink: SpanSink) -> Supervisor:
    """Ingestion as a real process on the secure broker, as its own principal, exporting
    its spans to `span_sink`; yields once it has joined its consumer groups."""
    secure_stack.extra_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = span_sink.url
    supervisor = secure_stack.start_services(("ingestion",))
    groups = [consumer_group("pillars", "ingestion", t) for t in (Topic.DOCUMENTS, Topic.REQUESTS)]
    assert secure_stack.endpoints is not None
    await wait_for_members(
        secure_stack.endpoints.kafka_bootstrap_servers,
        groups,
        lambda: "\n".join(p.log_path.read_text()[-3000:] for p in supervisor.processes()),
        timeout_s=240,
        security=secure_stack.kafka_admin,
    )
    return supervisor

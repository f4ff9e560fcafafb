"""The embedded trace dashboard: Arize Phoenix, receiving the services' OTLP spans locally.

Phoenix is a pip-installed server with a web UI for traces (it renders OpenInference's
EMBEDDING, RETRIEVER and LLM spans) and a REST API that `pillars trace` reads back. It stores
its data in `<data_dir>/phoenix` (SQLite) and listens on 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from shared.platform.runtime.errors import EmbeddedServer, RuntimeSetupError, log_tail
from shared.platform.runtime.host import die_with_parent, free_port

__all__ = ["PhoenixDashboard"]

log = logging.getLogger(__name__)


class PhoenixDashboard(EmbeddedServer):
    """A Phoenix server as a child process; `launch` returns at once, `wait_ready` waits."""

    def __init__(self, data_dir: Path) -> None:
        """Prepare (not start) a Phoenix storing in `data_dir`."""
        self.data_dir = data_dir
        self.log_path = data_dir / "phoenix.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._port: int | None = None

    @property
    def url(self) -> str:
        """Return the UI's (and REST API's) base URL."""
        if self._port is None:
            raise RuntimeSetupError("the trace dashboard is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def otlp_endpoint(self) -> str:
        """Return the OTLP/HTTP base URL for `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is added
        by the exporter)."""
        return self.url

    def launch(self) -> None:
        """Start the server process without waiting for it."""
        if self._process is not None and self._process.poll() is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._port = free_port()
        env = os.environ | {
            "PHOENIX_WORKING_DIR": str(self.data_dir),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self._port),
            "PHOENIX_GRPC_PORT": str(free_port(avoid=self._port)),
            "PHOENIX_TELEMETRY_ENABLED": "false",
            # Nothing is downloaded at run time (Phoenix would fetch a sandbox binary).
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
            "PHOENIX_DB_LOGGING_LEVEL": "warning",
        }
        # Phoenix must not trace itself into the dashboard it serves.
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "phoenix.server.main", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            process_group=0,  # Ctrl-C reaches `pillars up`, which stops it last
            preexec_fn=die_with_parent(),
        )

    def wait_ready(self, timeout_s: float = 120.0) -> str:
        """Wait until the server answers its health check; return its URL."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeSetupError(
                    f"the trace dashboard (Phoenix) exited: {log_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as reply:  # noqa: S310
                    if reply.status == 200:
                        return self.url
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() >= deadline:
                raise RuntimeSetupError(
                    f"the trace dashboard (Phoenix) did not answer within {timeout_s:g}s: "
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(0.5)

    def start(self, timeout_s: float = 120.0) -> str:
        """Start the server and wait until it answers."""
        self.launch()
        return self.wait_ready(timeout_s)

    def stop(self) -> None:
        """Stop the server: SIGTERM, SIGKILL after 15 s; safe to repeat."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

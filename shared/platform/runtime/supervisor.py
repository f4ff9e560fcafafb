"""Runs each service as real child processes and restarts the ones that die."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from shared.platform.runtime.host import die_with_parent

__all__ = ["SERVICES", "ServiceProcess", "Supervisor", "service_command"]

log = logging.getLogger(__name__)

SERVICES: tuple[str, ...] = (
    "ingestion",
    "embedding",
    "inference",
    "evaluator",
    "feedback",
    "scaler",
    "trainer",
)


@dataclass
class ServiceProcess:
    """One replica of a service: its process and where it logs."""

    service: str
    replica: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    @property
    def name(self) -> str:
        """Return e.g. `embedding-1`."""
        return f"{self.service}-{self.replica}"

    @property
    def alive(self) -> bool:
        """Tell whether the process is running."""
        return self.process is not None and self.process.poll() is None


def service_command(service: str) -> list[str]:
    """Return the command line that runs one replica of `service`."""
    return [sys.executable, "-m", f"services.{service}"]


class Supervisor:
    """Starts, watches, scales and stops service processes (`python -m services.<name>`)."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_dir: Path,
        command: Callable[[str], list[str]] = service_command,
        *,
        per_service: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._env = dict(env)
        # What one service alone gets on top (its own Kafka principal's credentials).
        self._per_service = {s: dict(e) for s, e in (per_service or {}).items()}
        self._log_dir = log_dir
        self._command = command
        self._replicas: dict[str, list[ServiceProcess]] = {}
        # The control API scales from its own threads while the main loop restarts the dead.
        self._lock = threading.RLock()
        # Every child is started from this one thread, which lives as long as the supervisor:
        # Linux ties a child's parent-death signal to the *thread* that forked it, so a
        # replica started from a control-API request thread got SIGTERM as soon as that
        # connection's thread ended (50-65 s after a scale-up, when the scaler's connection
        # closed).
        self._spawner: ThreadPoolExecutor | None = None

    def start(self, services: tuple[str, ...] = SERVICES) -> None:
        """Start one replica of each service."""
        for service in services:
            self.scale(service, 1)

    def replicas(self, service: str) -> int:
        """Return how many replicas of `service` the supervisor keeps running."""
        with self._lock:
            return len(self._replicas.get(service, []))

    def scale(self, service: str, replicas: int) -> bool:
        """Start or stop replicas of `service` until `replicas` run; return whether any did.

        A stopped replica gets SIGTERM: it finishes its batch, commits and leaves its
        consumer groups before it exits.
        """
        with self._lock:
            running = self._replicas.setdefault(service, [])
            changed = len(running) != replicas
            while len(running) < replicas:
                replica = ServiceProcess(
                    service, len(running) + 1, self._log_dir / f"{service}-{len(running) + 1}.log"
                )
                self._spawn(replica)
                running.append(replica)
            leaving = []
            while len(running) > replicas:
                leaving.append(running.pop())
        self._terminate(leaving)
        if changed:
            log.info("%s scaled to %d replicas", service, replicas)
        return changed

    def processes(self) -> list[ServiceProcess]:
        """Return every replica the supervisor manages."""
        with self._lock:
            return [p for replicas in self._replicas.values() for p in replicas]

    def restart_dead(self, backoff_s: float = 2.0) -> list[str]:
        """Restart replicas that exited, at most once per `backoff_s`; return their names."""
        restarted = []
        with self._lock:  # a replica being scaled away is no longer listed: it stays stopped
            for replica in self.processes():
                if not replica.alive and time.monotonic() - replica.started_at >= backoff_s:
                    code = replica.process.returncode if replica.process else None
                    log.warning(
                        "%s exited with %s; restarting (see %s)",
                        replica.name,
                        code,
                        replica.log_path,
                    )
                    replica.restarts += 1
                    self._spawn(replica)
                    restarted.append(replica.name)
        return restarted

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop every replica: SIGTERM, then SIGKILL after `timeout_s`."""
        with self._lock:
            everyone = self.processes()
            self._replicas.clear()
            spawner, self._spawner = self._spawner, None
        self._terminate(everyone, timeout_s)
        if spawner is not None:
            spawner.shutdown()

    def _spawn(self, replica: ServiceProcess) -> None:
        with self._lock:
            if self._spawner is None:
                self._spawner = ThreadPoolExecutor(1, thread_name_prefix="pillars-spawner")
            spawner = self._spawner
        spawner.submit(self._popen, replica).result()

    def _popen(self, replica: ServiceProcess) -> None:
        own = self._per_service.get(replica.service, {})
        env = self._env | own | {"PILLARS_REPLICA": str(replica.replica)}
        replica.log_path.parent.mkdir(parents=True, exist_ok=True)
        with replica.log_path.open("ab") as log_file:
            replica.process = subprocess.Popen(
                self._command(replica.service),
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(),
            )
        replica.started_at = time.monotonic()

    @staticmethod
    def _terminate(replicas: list[ServiceProcess], timeout_s: float = 20.0) -> None:
        live = [r.process for r in replicas if r.process is not None and r.process.poll() is None]
        for process in live:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in live:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def service_env(
    bootstrap_servers: str, database_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return the environment the services run with: this one plus where Kafka/Postgres are."""
    return {
        **os.environ,
        "PILLARS_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "PILLARS_DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }

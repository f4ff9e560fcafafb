"""The supervisor keeps what it starts: a replica asked for over the control API lives on
after the request's connection (and its thread) is gone."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shared.platform.runtime.control import ControlServer
from shared.platform.runtime.host import die_with_parent
from shared.platform.runtime.supervisor import Supervisor

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signals are Linux's"
)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def put_replicas(url: str, service: str, replicas: int) -> dict[str, object]:
    """Scale over a connection of its own, closed before this returns."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(
            "PUT", f"/services/{service}/replicas", body=json.dumps({"replicas": replicas})
        )
        reply: dict[str, object] = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    return reply


def still_running(process: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return True


def test_a_child_forked_from_a_thread_that_ends_is_killed_which_the_supervisor_avoids() -> None:
    """Why the supervisor spawns from one long-lived thread: Linux's parent-death signal
    follows the forking thread, so this child dies when its thread does."""
    started: list[subprocess.Popen[bytes]] = []
    thread = threading.Thread(
        target=lambda: started.append(subprocess.Popen(SLEEPER, preexec_fn=die_with_parent()))
    )
    thread.start()
    thread.join()
    try:
        assert not still_running(started[0], 5.0)
    finally:
        started[0].kill()
        started[0].wait()


def test_a_replica_scaled_up_through_the_control_api_outlives_the_connection(
    tmp_path: Path,
) -> None:
    supervisor = Supervisor({}, tmp_path / "logs", command=lambda service: SLEEPER)
    control = ControlServer(("embedding",))
    url = control.start(supervisor)
    try:
        supervisor.start(("embedding",))
        assert put_replicas(url, "embedding", 2) == {
            "service": "embedding",
            "replicas": 2,
            "changed": True,
        }
        added = supervisor.processes()[1]
        assert added.process is not None
        pid = added.process.pid
        # the request's thread has ended with its connection: the replica must not follow
        assert still_running(added.process, 3.0)
        assert supervisor.restart_dead(backoff_s=0) == []
        assert (added.process.pid, added.restarts) == (pid, 0)
        assert put_replicas(url, "embedding", 1)["changed"] is True
        assert added.process.wait(timeout=10) == -15  # scaled away: SIGTERM, by us
    finally:
        control.stop()
        supervisor.stop(timeout_s=5)

"""The e2e tier runs the real `pillars up` command and talks to what it started."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from shared.experiments import Arm, Experiment, assign_arm
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
    # The cluster's and the loop's platforms run first and alone: the session's platform,
    # once started, runs until the session ends, and two at once would share two cores.
    items.sort(
        key=lambda item: (
            "/e2e/" in str(item.path)
            and not any(item.get_closest_marker(m) for m in ("cluster", "loop"))
        )
    )


FEEDBACK_TOKEN = "e2e-feedback-token"

# The platform's experiment: the default retrieval-mode arms (dense, hybrid) take nearly
# all traffic, and every other shipped solution has a small arm that tests reach through
# users who hash into it. Every request is also answered by the router in the shadows.
EXPERIMENT = Experiment(
    name="retrieval-mode",
    salt="e2e-1",
    arms=(
        Arm(name="dense", weight=0.49, solution="rag-answerer-dense"),
        Arm(name="hybrid", weight=0.49, solution="rag-answerer"),
        Arm(name="classifier", weight=0.01, solution="text-classifier"),
        Arm(name="router", weight=0.005, solution="router"),
        Arm(name="gemma", weight=0.005, solution="rag-gemma"),
        Arm(name="router-shadow", solution="router", shadow=True),
    ),
)


def users_in(arm: str, count: int = 1, prefix: str = "probe") -> list[str]:
    """Return `count` user ids the experiment's hash assigns to `arm`."""
    units = (f"{prefix}-{i}" for i in itertools.count())
    return list(
        itertools.islice((u for u in units if assign_arm(EXPERIMENT, u).name == arm), count)
    )


@dataclass
class RunningPlatform:
    """A `pillars up` process and where its Kafka and Postgres listen."""

    process: subprocess.Popen[str]
    data_dir: Path
    endpoints: Endpoints
    services: list[psutil.Process]

    def cli(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        """Run another `pillars` command against this platform."""
        return subprocess.run(
            [sys.executable, "-m", "shared.platform.cli", "--data-dir", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=_clean_env(),
        )


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PILLARS_", "OTEL_"))}
    return env | {"PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def pillars_up(data_dir: Path, env: dict[str, str], *args: str) -> Iterator[RunningPlatform]:
    """Run `pillars up ARGS` on `data_dir` until the block ends; it must stop cleanly."""
    output = data_dir / "pillars-up.out"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.platform.cli", "--data-dir", str(data_dir), "up", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            env=_clean_env() | env,
        )
    try:
        _wait_for_line(process, output, "pillars is up", timeout_s=300)
        recorded = json.loads((data_dir / "endpoints.json").read_text())
        endpoints = Endpoints(**recorded)
        children = psutil.Process(process.pid).children(recursive=True)
        services = [p for p in children if "services." in " ".join(p.cmdline())]
        yield RunningPlatform(process, data_dir, endpoints, services)
    finally:
        everything = (
            psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        )
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=120)
        _, alive = psutil.wait_procs(everything, timeout=10)
        orphans = [p for p in _processes_using(data_dir) if p.is_running()] + alive
        for leftover in orphans:
            leftover.kill()
    assert code == 0, output.read_text()[-3000:]
    assert not orphans, f"`pillars up` left processes behind: {orphans}"


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """`pillars up` on embedded defaults, its spans exported to its own trace dashboard."""
    env = {
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "PILLARS_SCALER_INTERVAL_S": "2",
        "PILLARS_FEEDBACK_WAIT_S": "5",
        "PILLARS_FEEDBACK_TOKENS": json.dumps([FEEDBACK_TOKEN]),
        "PILLARS_EVALUATOR_REPORT_INTERVAL_S": "2",
        "PILLARS_EXPERIMENT": EXPERIMENT.model_dump_json(),
    }
    with pillars_up(tmp_path_factory.mktemp("pillars-up"), env) as running:
        yield running


def _processes_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if str(data_dir) in " ".join(proc.info["cmdline"] or ()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _wait_for_line(
    process: subprocess.Popen[str], output: Path, line: str, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while line not in output.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"`pillars up` did not come up:\n{output.read_text()[-5000:]}")
        time.sleep(0.5)


@pytest.fixture
async def client(platform: RunningPlatform) -> AsyncIterator[PillarsClient]:
    async with PillarsClient(platform.endpoints.kafka_bootstrap_servers, source="/tests") as client:
        yield client


@pytest.fixture
def endpoints(platform: RunningPlatform) -> Endpoints:
    return platform.endpoints


@pytest.fixture
def dashboard(platform: RunningPlatform) -> str:
    """The URL of the trace dashboard (Phoenix) `pillars up` started."""
    assert platform.endpoints.dashboard_url, "pillars up started no trace dashboard"
    return platform.endpoints.dashboard_url

"""What the benchmarks share: a running platform (started if none is), percentiles, and the
CPU time each of a local platform's processes spends."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.kit.kafka_security import KafkaSecuritySettings
from shared.kit.settings import PillarsSettings
from shared.platform.cli.common import kafka_security_for
from shared.platform.client import PillarsClient
from shared.platform.demo import index_demo
from shared.platform.runtime.stack import Endpoints, Stack, read_endpoints


def pct(values: list[float], q: float) -> float:
    """Return the q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@contextmanager
def running_platform(
    *, reuse: bool = True, dashboard: str = "phoenix"
) -> Iterator[tuple[Endpoints, Stack | None]]:
    """Use the platform `pillars up` runs, or start one in a temporary data directory
    (always a fresh one when `reuse` is False; `dashboard="none"` exports no spans)."""
    if reuse:
        try:
            endpoints = read_endpoints(PillarsSettings())
            print(f"using the running platform at {endpoints.kafka_bootstrap_servers}")
            yield endpoints, None
            return
        except RuntimeError:
            pass
    data_dir = Path(tempfile.mkdtemp(prefix="pillars-bench-"))
    stack = Stack(PillarsSettings(data_dir=data_dir, dashboard=dashboard))  # type: ignore[arg-type]
    try:
        endpoints = stack.start_infrastructure()
        stack.start_services()
        stack.wait_until_consuming()  # time the work, not the model loading
        print(f"started a platform in {stack.data_dir}")
        yield endpoints, stack
    finally:
        stack.stop()


def client_security(endpoints: Endpoints) -> KafkaSecuritySettings:
    """Return how a bench's own clients connect: as the settings say, or as the admin of a
    `pillars up --secure` platform."""
    return kafka_security_for(PillarsSettings(), endpoints)


async def index_demo_documents(client: PillarsClient, tenant: str) -> None:
    """Publish the demo documents for `tenant` and wait until all are searchable."""
    await index_demo(client, tenant, timeout_s=300)


def _cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds of process `pid` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Return the processes whose parent is `pid` (Postgres' backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def cpu_by_process(stack: Stack | None) -> dict[str, float]:
    """Return CPU seconds so far of each part of a platform this run started (Linux /proc):
    the broker, Postgres and its backends, each service (replicas summed) and this client."""
    if stack is None or not Path("/proc/self/stat").exists():
        return {}
    parts: dict[str, list[int]] = {"bench client": [os.getpid()]}
    if stack.kafka is not None and stack.kafka.pid is not None:
        parts["kafka"] = [stack.kafka.pid]
    if stack.postgres is not None:
        try:
            postmaster = int((stack.postgres.pgdata / "postmaster.pid").read_text().split()[0])
            parts["postgres"] = [postmaster, *_children(postmaster)]
        except (FileNotFoundError, ValueError):
            pass
    if stack.supervisor is not None:
        for replica in stack.supervisor.processes():
            if replica.process is not None:
                parts.setdefault(replica.service, []).append(replica.process.pid)
    return {name: sum(map(_cpu_seconds, pids)) for name, pids in parts.items()}

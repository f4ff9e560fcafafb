"""What the benchmarks share: a running platform (started if none is) and percentiles."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.client import PillarsClient
from shared.demo import index_demo
from shared.runtime.stack import Endpoints, Stack, read_endpoints
from shared.settings import PillarsSettings


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


async def index_demo_documents(client: PillarsClient, tenant: str) -> None:
    """Publish the demo documents for `tenant` and wait until all are searchable."""
    await index_demo(client, tenant, timeout_s=300)

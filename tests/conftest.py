"""Session fixtures: the real broker and database, started with `pillars up`'s own code."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.kit.settings import PillarsSettings
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints, Stack


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pillars-data")


@pytest.fixture(scope="session")
def stack(data_dir: Path) -> Iterator[Stack]:
    """Kafka (KRaft) and Postgres+pgvector for the whole session, topics created."""
    # PILLARS_KAFKA_BOOTSTRAP_SERVERS / PILLARS_DATABASE_URL, when set, point the tests elsewhere.
    stack = Stack(PillarsSettings(data_dir=data_dir, dashboard="none"))
    try:
        stack.start_infrastructure()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def endpoints(stack: Stack) -> Endpoints:
    assert stack.endpoints is not None
    return stack.endpoints


@pytest.fixture
def tenant() -> str:
    """A tenant of its own per test, so tests sharing the broker never see each other's data."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def client(endpoints: Endpoints) -> AsyncIterator[PillarsClient]:
    async with PillarsClient(endpoints.kafka_bootstrap_servers, source="/tests") as client:
        yield client

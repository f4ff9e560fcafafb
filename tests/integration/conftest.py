from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from shared.kit.db import create_pool
from shared.kit.settings import cache_dir
from shared.platform.runtime.kafka_cluster import EmbeddedKafkaCluster
from shared.platform.runtime.kafka_jars import resolve_kafka_jars
from shared.platform.runtime.stack import Endpoints


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
async def pool(endpoints: Endpoints) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(endpoints.database_url)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded three-broker KRaft cluster (what `pillars up --brokers 3` starts), for the
    tests of one module; yields its bootstrap list."""
    jars = resolve_kafka_jars(cache_dir() / "kafka-jars")
    cluster = EmbeddedKafkaCluster(tmp_path_factory.mktemp("kafka-cluster"), jars, brokers=3)
    try:
        yield cluster.start()
    finally:
        cluster.stop()

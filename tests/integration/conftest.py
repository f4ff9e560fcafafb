from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.kit.db import create_pool
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

"""A service's dependencies exist while its app runs, and fail clearly outside that; its
periodic rounds survive a failed round."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from shared.kit.assembly import Assembled, Periodic


async def test_dependencies_exist_only_while_the_lifespan_runs() -> None:
    released: list[str] = []

    @asynccontextmanager
    async def build() -> AsyncIterator[str]:
        yield "adapters"
        released.append("adapters")

    deps = Assembled("ingestion", build)
    with pytest.raises(RuntimeError, match="ingestion's dependencies are used before"):
        deps()
    async with deps.lifespan():
        assert deps() == "adapters"
    assert released == ["adapters"]
    with pytest.raises(RuntimeError):
        deps()


async def test_a_failed_round_does_not_end_the_rounds() -> None:
    calls: list[int] = []
    third = asyncio.Event()

    async def round_() -> None:
        calls.append(len(calls))
        if len(calls) == 3:
            third.set()
        if len(calls) == 1:
            raise ValueError("the first round fails")

    periodic = Periodic("test-rounds", 0.01, round_)
    await periodic.start()
    await asyncio.wait_for(third.wait(), 5)
    await periodic.stop()
    stopped_at = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == stopped_at

"""Waiting for services to join their consumer groups, shared by the real-broker tiers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from aiokafka.errors import KafkaError

from services.scaler.adapters.kafka_lag import KafkaLagProbe


async def wait_for_members(
    bootstrap: str, groups: Sequence[str], diagnostics: Callable[[], str], timeout_s: float = 240
) -> None:
    """Wait until every group has a member; fail with `diagnostics()` (e.g. service logs)."""
    probe = KafkaLagProbe(bootstrap)
    await probe.start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                waiting = [g for g in groups if not await probe.members(g)]
            except KafkaError as exc:  # the group coordinator starts just after the broker
                waiting = [str(exc)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"no consumer joined {waiting}\n{diagnostics()}")
            await asyncio.sleep(0.5)
    finally:
        await probe.stop()

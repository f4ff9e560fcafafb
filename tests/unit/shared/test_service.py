"""ServiceKit's batch subscribers hand records over as soon as they arrive."""

from __future__ import annotations

import time

from shared.service import ServiceKit
from shared.settings import PillarsSettings
from shared.topics import Topic


class IdleConsumer:
    """getmany as aiokafka's: it already waited; here nothing came, or two records did."""

    def __init__(self, batches: dict[str, list[str]]) -> None:
        self.batches = batches
        self.calls: list[tuple[int, int]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        self.calls.append((timeout_ms, max_records))
        return self.batches


async def test_an_empty_poll_is_not_followed_by_a_sleep() -> None:
    kit = ServiceKit("embedding", PillarsSettings(kafka_bootstrap_servers="unused:9092"))
    subscriber = kit.batch_subscriber(Topic.REQUESTS_ACCEPTED, max_records=8, wait_ms=300)
    consumer = IdleConsumer({})
    started = time.perf_counter()
    assert await subscriber.get_msg(consumer) == ()
    # FastStream's own poll sleeps wait_ms (0.3 s) more after an empty poll.
    assert time.perf_counter() - started < 0.1
    assert consumer.calls == [(300, 8)]
    busy = IdleConsumer({"p0": ["a", "b"], "p1": ["c"]})
    assert await subscriber.get_msg(busy) == ("a", "b", "c")

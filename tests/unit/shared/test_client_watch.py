"""A watch skips records that are not events of its topic instead of failing on them."""

from __future__ import annotations

from typing import Any

from shared.contracts.events import InferenceRequest
from shared.contracts.topics import Topic
from shared.platform.client import Watch


class Records:
    """A consumer stand-in whose one `getmany` returns the records given, then nothing."""

    def __init__(self, values: list[bytes | None]) -> None:
        self.batches: list[dict[str, list[Any]]] = [
            {"p0": [type("Record", (), {"value": v})() for v in values]}
        ]

    async def getmany(self, timeout_ms: int) -> dict[str, list[Any]]:
        return self.batches.pop(0) if self.batches else {}


async def test_bad_records_are_skipped_and_counted_and_good_ones_arrive() -> None:
    good = InferenceRequest(tenant="acme", request_id="r1", query="q?")
    watch = Watch(
        Records([b"{", None, b'{"tenant": "acme"}', good.model_dump_json().encode()]),  # type: ignore[arg-type]
        Topic.REQUESTS,
    )
    events = await watch.collect(lambda evs: len(evs) >= 1, timeout_s=5)
    assert events == [good]
    assert watch.skipped == 3

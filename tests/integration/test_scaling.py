"""The scaler acts: a burst raises embedding's replicas, the lag drains, they come back down.

Runs embedding and scaler under `pillars up`'s supervisor and control API (Stack), with
a steady trickle of documents throughout, so replicas join and leave while messages
flow; every document must be indexed exactly once and announced exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from services.ingestion.handlers import chunk_document
from shared.contracts.events import (
    DocumentChanged,
    DocumentChunked,
    DocumentIndexed,
    ScalingDecision,
)
from shared.contracts.topics import Topic, consumer_group
from shared.kit.kafka_admin import wait_for_members
from shared.kit.settings import PillarsSettings
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints, Stack
from tests.fakes import WordTokenizer

pytestmark = pytest.mark.scaling

BURST = 500
STABILIZATION_S = 12


def document(tenant: str, i: int) -> DocumentChunked:
    return chunk_document(
        DocumentChanged(tenant=tenant, document_id=f"doc{i}", text=f"Document {i} is short."),
        tokens=WordTokenizer(),
        chunk_size=64,
        overlap=0,
        max_bytes=10_000,
    )


async def test_a_burst_scales_embedding_up_then_back_to_the_minimum_losing_nothing(
    endpoints: Endpoints, client: PillarsClient, pool: asyncpg.Pool, tenant: str, tmp_path: Path
) -> None:
    settings = PillarsSettings(
        data_dir=tmp_path,
        kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers,
        database_url=endpoints.database_url,
        dashboard="none",
    )
    watch = {"embedding": [Topic.CHUNKS, Topic.REQUESTS_ACCEPTED]}
    stack = Stack(
        settings,
        extra_env={
            "PILLARS_SCALER_INTERVAL_S": "1",
            "PILLARS_SCALER_TARGET_DRAIN_S": "5",
            "PILLARS_SCALER_RATE_PER_REPLICA": "5",
            "PILLARS_SCALER_SCALE_DOWN_STABILIZATION_S": str(STABILIZATION_S),
            "PILLARS_SCALER_WATCH": json.dumps(watch),
        },
    )
    await asyncio.to_thread(stack.start_infrastructure)  # topics exist: records endpoints
    supervisor = stack.start_services(("embedding", "scaler"))
    scaling = await client.watch(Topic.SCALING)
    indexed = await client.watch(Topic.INDEXED)
    sent: list[DocumentChunked] = []

    async def trickle() -> None:  # keeps messages flowing while replicas come and go
        i = BURST
        while True:
            sent.append(document(tenant, i))
            await client.publish(Topic.CHUNKS, sent[-1])
            i += 1
            await asyncio.sleep(0.5)

    trickling: asyncio.Task[None] | None = None
    try:
        try:
            groups = [consumer_group("pillars", "embedding", t) for t in watch["embedding"]]
            logs = tmp_path / "logs" / "embedding-1.log"
            await wait_for_members(endpoints.kafka_bootstrap_servers, groups, logs.read_text, 180)
            trickling = asyncio.create_task(trickle())
            for i in range(BURST):
                sent.append(document(tenant, i))
                await client.publish(Topic.CHUNKS, sent[-1])

            def embedding(events: list[object]) -> list[ScalingDecision]:
                return [
                    e for e in events if isinstance(e, ScalingDecision) and e.service == "embedding"
                ]

            def scaled_up(events: list[object]) -> bool:
                return any(d.acted and d.desired_replicas > 1 for d in embedding(events))

            up = await scaling.collect(scaled_up, timeout_s=60)
            peak = max(d.desired_replicas for d in embedding(up) if d.acted)
            assert 1 < peak <= 3  # 3 partitions: more replicas could only wait
            assert supervisor.replicas("embedding") == peak

            def scaled_down(events: list[object]) -> bool:
                return any(d.acted and d.desired_replicas == 1 for d in embedding(events))

            down = await scaling.collect(scaled_down, timeout_s=180)
            assert supervisor.replicas("embedding") == 1
            settled = next(d for d in embedding(down) if d.acted and d.desired_replicas == 1)
            assert settled.lag < settled.partitions * 10  # drained (only the trickle remains)
            assert "scale-down window" in " ".join(d.reason for d in embedding(down))
            await asyncio.sleep(3)  # the trickle goes on through the scale-down
        finally:
            if trickling is not None:
                trickling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await trickling
            await scaling.stop()

        wanted = {d.document_id for d in sent}

        def announced(events: list[object]) -> set[str]:
            return {
                e.document_id
                for e in events
                if isinstance(e, DocumentIndexed) and e.tenant == tenant
            }

        events = await indexed.collect(lambda ev: announced(ev) >= wanted, timeout_s=120)
        events += await indexed.collect_for(3)  # a late duplicate would show up now
    finally:
        await indexed.stop()
        await asyncio.to_thread(stack.stop)
    mine = [e for e in events if isinstance(e, DocumentIndexed) and e.tenant == tenant]
    twice = {k: n for k, n in Counter(e.document_id for e in mine).items() if n > 1}
    assert twice == {}, f"announced more than once: {twice}"
    rows = await pool.fetch("SELECT chunk_id FROM pillars_chunks WHERE tenant = $1", tenant)
    assert sorted(r["chunk_id"] for r in rows) == sorted(c.chunk_id for d in sent for c in d.chunks)

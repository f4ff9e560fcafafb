"""A crash of the embedding service mid-batch loses nothing and duplicates nothing."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from services.ingestion.handlers import chunk_document
from shared.contracts.events import DocumentChanged, DocumentIndexed
from shared.contracts.topics import Topic
from shared.kit.kafka_admin import wait_for_members
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints
from shared.platform.runtime.supervisor import Supervisor, service_env
from tests.fakes import WordTokenizer

DOCUMENTS = 24


async def test_sigkill_between_batches_then_restart_indexes_every_chunk_once(
    endpoints: Endpoints, client: PillarsClient, pool: asyncpg.Pool, tenant: str, tmp_path: Path
) -> None:
    bootstrap = endpoints.kafka_bootstrap_servers
    env = service_env(bootstrap, endpoints.database_url, {"PILLARS_CHUNK_BATCH_MAX_RECORDS": "2"})
    supervisor = Supervisor(env, tmp_path / "logs")
    supervisor.scale("embedding", 1)
    try:
        log = tmp_path / "logs" / "embedding-1.log"
        await wait_for_members(bootstrap, ["pillars.embedding.chunks"], log.read_text, 180)
        chunked = [
            chunk_document(
                DocumentChanged(
                    tenant=tenant,
                    document_id=f"doc{i}",
                    text=" ".join(
                        f"Sentence {j} of document {i} says something." for j in range(60)
                    ),
                ),
                tokens=WordTokenizer(),
                chunk_size=40,
                overlap=0,
                max_bytes=100_000,
            )
            for i in range(DOCUMENTS)
        ]
        expected = {c.chunk_id for doc in chunked for c in doc.chunks}
        indexed = await client.watch(Topic.INDEXED)
        try:
            for doc in chunked:
                await client.publish(Topic.CHUNKS, doc)

            def mine(events: list[object]) -> set[str]:
                return {
                    e.document_id
                    for e in events
                    if isinstance(e, DocumentIndexed) and e.tenant == tenant
                }

            before = await indexed.collect(lambda events: len(mine(events)) >= 1, timeout_s=120)
            [replica] = supervisor.processes()
            assert replica.process is not None
            replica.process.kill()  # mid-run: later batches are being encoded or written
            replica.process.wait()
            assert supervisor.restart_dead(backoff_s=0) == ["embedding-1"]
            after = await indexed.collect(
                lambda events: len(mine(before + events)) == DOCUMENTS, timeout_s=240
            )
            assert len(mine(before + after)) == DOCUMENTS
        finally:
            await indexed.stop()
        rows = await pool.fetch("SELECT chunk_id FROM pillars_chunks WHERE tenant = $1", tenant)
        assert sorted(r["chunk_id"] for r in rows) == sorted(expected)  # each exactly once
    finally:
        supervisor.stop()

"""`pillars ingest`: publish many documents and wait until they are searchable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm import tqdm

from shared.contracts.events import DocumentChanged, DocumentIndexed
from shared.platform.client import PillarsClient

__all__ = ["IngestSummary", "ingest_documents"]


@dataclass(frozen=True)
class IngestSummary:
    """What a bulk load did."""

    documents: int
    chunks_written: int
    chunks_total: int
    seconds: float


async def ingest_documents(
    client: PillarsClient,
    documents: Sequence[DocumentChanged],
    *,
    wait: bool = True,
    timeout_s: float = 3600.0,
    progress: bool = True,
) -> IngestSummary:
    """Publish `documents`, then (with `wait`) follow `indexed` until each has been indexed."""
    from shared.contracts.topics import Topic

    started = time.perf_counter()
    indexed = await client.watch(Topic.INDEXED) if wait else None
    try:
        for document in tqdm(documents, desc="publish", unit="doc", disable=not progress):
            await client.publish(Topic.DOCUMENTS, document)
        if indexed is None:
            return IngestSummary(len(documents), 0, 0, time.perf_counter() - started)
        wanted = {(d.tenant, d.document_id, d.version) for d in documents}
        seen: dict[tuple[str, str, int], DocumentIndexed] = {}
        with tqdm(total=len(wanted), desc="indexed", unit="doc", disable=not progress) as bar:
            async with asyncio.timeout(timeout_s):
                async for event in indexed.stream():
                    if not isinstance(event, DocumentIndexed):
                        continue
                    key = (event.tenant, event.document_id, event.version)
                    if key in wanted and key not in seen:
                        seen[key] = event
                        bar.update(1)
                        if len(seen) == len(wanted):
                            break
    finally:
        if indexed is not None:
            await indexed.stop()
    return IngestSummary(
        documents=len(documents),
        chunks_written=sum(e.chunks_written for e in seen.values()),
        chunks_total=sum(len(e.chunk_ids) for e in seen.values()),
        seconds=time.perf_counter() - started,
    )

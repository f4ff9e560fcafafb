"""What a run under faults must add up to, read back from the topics and the database.

`lost`: requests without a live prediction; `conflicting`: requests whose live predictions
differ in content (answer, arm, sources); `redelivered`: output messages repeated with the
same event id; chunk differences against what ingestion last cut; metric differences: scores
and outcomes the evaluator counted against the distinct predictions and feedback sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from shared.contracts.topics import Topic, topic_name

__all__ = [
    "Tally",
    "answered",
    "chunk_differences",
    "document",
    "expected_chunks",
    "indexed_chunks",
    "read_all",
    "tally",
]


def document(tenant: str, i: int, words: int = 40) -> dict[str, object]:
    """Return a document body as a business system sends it (no event id)."""
    text = " ".join(f"topic{i} fact{j} about durability" for j in range(words))
    return {"tenant": tenant, "document_id": f"doc-{i}", "text": text}


async def read_all(
    bootstrap: list[str],
    topic: Topic,
    tenant: str,
    done: Callable[[list[dict[str, Any]]], bool],
    wait_s: float,
) -> list[dict[str, Any]]:
    """Read `tenant`'s events on `topic` from the beginning until `done` (or `wait_s`)."""
    consumer = AIOKafkaConsumer(
        topic_name(topic),
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        # With PILLARS_EXACTLY_ONCE on, aborted outputs are in the log but never delivered;
        # off, every record is committed and this reads them all.
        isolation_level="read_committed",
    )
    events: list[dict[str, Any]] = []
    await consumer.start()
    try:
        async with asyncio.timeout(wait_s):
            if done(events):
                return events
            async for record in consumer:
                event = json.loads(record.value or b"{}")
                if event.get("tenant") == tenant:
                    events.append(event)
                if done(events):
                    break
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return events


def _content(prediction: dict[str, Any]) -> str:
    """A prediction's identity and content: one request must have one of these."""
    sources = [s.get("chunk_id") for s in prediction.get("sources", [])]
    return json.dumps(
        [prediction["event_id"], prediction.get("answer"), prediction.get("variant"), sources]
    )


def answered(events: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """Return each request's distinct live predictions (event id and answer)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for prediction in events:
        seen[prediction["request_id"]].add(
            json.dumps([prediction["event_id"], prediction["answer"]])
        )
    return seen


def expected_chunks(events: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """Return each document's chunk ids as ingestion last cut it."""
    return {e["document_id"]: {c["chunk_id"] for c in e["chunks"]} for e in events}


async def indexed_chunks(database_url: str, tenant: str) -> dict[str, set[str]]:
    """Return each of `tenant`'s documents' chunk ids in the index."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT document_id, chunk_id::text AS id FROM pillars_chunks WHERE tenant = $1",
            tenant,
        )
    finally:
        await conn.close()
    indexed: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        indexed[row["document_id"]].add(row["id"])
    return dict(indexed)


def chunk_differences(expected: dict[str, set[str]], indexed: dict[str, set[str]]) -> int:
    """Return the chunks missing from the index or left over in it."""
    documents = expected.keys() | indexed.keys()
    return sum(len(expected.get(d, set()) ^ indexed.get(d, set())) for d in documents)


@dataclass(frozen=True)
class Tally:
    """The oracle's counts for one run."""

    requests: int
    lost: int
    conflicting: int
    redelivered: int
    chunk_differences: int
    metric_differences: int
    metric_detail: str  # which count differs, to trace a difference to its cause

    def as_dict(self) -> dict[str, int | str]:
        return dict(self.__dict__)


async def _evaluator_counts(database_url: str, tenant: str) -> tuple[int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        scores = await conn.fetchval(
            "SELECT count(*) FROM evaluator_scores WHERE tenant = $1", tenant
        )
        outcomes = await conn.fetchval(
            "SELECT count(*) FROM evaluator_outcomes WHERE tenant = $1", tenant
        )
    finally:
        await conn.close()
    return int(scores), int(outcomes)


async def tally(
    bootstrap: list[str],
    database_url: str,
    *,
    tenant: str,
    requests: Iterable[str],
    feedback: Iterable[str],
    settle_s: float = 180,
) -> Tally:
    """Count what the run lost, doubled or disagreed on, once everything has settled (or
    `settle_s` passed): every request answered, every chunk indexed, every score counted."""
    wanted, given = set(requests), set(feedback)
    predictions = await read_all(
        bootstrap,
        Topic.PREDICTIONS,
        tenant,
        lambda e: wanted <= {p["request_id"] for p in e},
        settle_s,
    )
    live = [p for p in predictions if not p.get("shadow")]
    contents: dict[str, set[str]] = defaultdict(set)
    for p in live:
        contents[p["request_id"]].add(_content(p))
    ids = Counter(p["event_id"] for p in live)
    chunked = await read_all(bootstrap, Topic.CHUNKS, tenant, lambda e: False, 20)
    expected = expected_chunks(chunked)
    deadline = time.monotonic() + settle_s
    while True:  # indexing and scoring catch up after the last fault
        indexed = await indexed_chunks(database_url, tenant)
        scores, outcomes = await _evaluator_counts(database_url, tenant)
        answered_ids = {p["request_id"] for p in live}
        joined = len(given & answered_ids)
        metric = abs(scores - len(answered_ids)) + abs(outcomes - joined)
        differences = chunk_differences(expected, indexed)
        if (differences == 0 and metric == 0) or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    return Tally(
        requests=len(wanted),
        lost=len(wanted - answered_ids),
        conflicting=sum(1 for c in contents.values() if len(c) > 1),
        redelivered=sum(n - 1 for n in ids.values() if n > 1),
        chunk_differences=differences,
        metric_differences=metric,
        metric_detail=f"scores {scores} of {len(answered_ids)} answered requests; outcomes "
        f"{outcomes} of {joined} feedback on answered requests",
    )

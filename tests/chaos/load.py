"""A steady load from a plain Kafka client (aiokafka, not pillars' own): documents, requests
and click feedback, each sent until the broker has it (a business system retries), with a
CloudEvents `ce_id` so that a retried send is the same event."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from shared.contracts.topics import Topic, topic_name
from tests.chaos.oracle import document

__all__ = ["Load"]


@dataclass
class Load:
    """Sends at `rate_per_s` requests/s; a document every `document_every` requests, a click
    on every `click_every`-th answer; records what it sent and when answers arrived."""

    bootstrap: list[str]
    tenant: str
    rate_per_s: float = 10.0
    document_every: int = 25
    click_every: int = 3
    requests: dict[str, float] = field(default_factory=dict)  # id -> first sent
    clicks: set[str] = field(default_factory=set)  # the requests clicked
    documents: int = 0
    arrivals: list[float] = field(default_factory=list)  # wall times of live predictions
    answered: dict[str, float] = field(default_factory=dict)  # id -> first answer's wall time
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def events(self) -> int:
        return len(self.requests) + len(self.clicks) + self.documents

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, then until every send is acknowledged."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True
        )
        watcher = AIOKafkaConsumer(
            topic_name(Topic.PREDICTIONS), bootstrap_servers=self.bootstrap, group_id=None,
            auto_offset_reset="latest", isolation_level="read_committed",
        )  # fmt: skip
        await producer.start()
        await watcher.start()
        watching = asyncio.create_task(self._watch(producer, watcher))
        try:
            started, i = time.monotonic(), 0
            while not stop.is_set():
                if i % self.document_every == 0:
                    body = document(self.tenant, self.documents)
                    self._send(producer, Topic.DOCUMENTS, body, f"doc-{self.documents}")
                    self.documents += 1
                request_id = f"r-{i}"
                body = {"tenant": self.tenant, "request_id": request_id, "query": f"fact{i % 40}?"}
                self.requests[request_id] = time.time()
                self._send(producer, Topic.REQUESTS, body, request_id)
                i += 1
                await asyncio.sleep(max(0.0, started + i / self.rate_per_s - time.monotonic()))
            while self._pending:
                await asyncio.gather(*self._pending)
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            await watcher.stop()
            await producer.stop()

    def _send(
        self, producer: AIOKafkaProducer, topic: Topic, body: dict[str, object], key: str
    ) -> None:
        task = asyncio.create_task(self._deliver(producer, topic, body, key))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(
        self, producer: AIOKafkaProducer, topic: Topic, body: dict[str, object], key: str
    ) -> None:
        headers = [
            ("ce_id", f"{self.tenant}/{topic.value}/{key}".encode()),
            ("ce_source", b"/chaos/load"),
            ("ce_time", datetime.now(UTC).isoformat().encode()),
        ]
        value = json.dumps(body).encode()
        while True:
            try:
                await producer.send_and_wait(
                    topic_name(topic), value, key=f"{self.tenant}/{key}".encode(), headers=headers
                )
                return
            except KafkaError:
                await asyncio.sleep(0.5)  # the broker is away: try again, as a business system does

    async def _watch(self, producer: AIOKafkaProducer, watcher: AIOKafkaConsumer) -> None:
        while True:
            try:
                batches = await watcher.getmany(timeout_ms=500)
            except KafkaError:
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for record in records:
                    prediction = json.loads(record.value or b"{}")
                    if prediction.get("tenant") != self.tenant:
                        continue
                    self.arrivals.append(time.time())
                    request_id = prediction["request_id"]
                    self.answered.setdefault(request_id, self.arrivals[-1])
                    number = int(request_id.removeprefix("r-"))
                    if number % self.click_every == 0 and request_id not in self.clicks:
                        self.clicks.add(request_id)
                        click = {
                            "tenant": self.tenant,
                            "feedback_id": f"click-{request_id}",
                            "request_id": request_id,
                            "kind": "click",
                        }
                        self._send(producer, Topic.FEEDBACK, click, f"click-{request_id}")

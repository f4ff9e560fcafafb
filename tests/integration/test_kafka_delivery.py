"""Over the real broker: a poison message goes to the DLQ and the messages around it flow on."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.ingestion.app import create_app
from services.ingestion.config import IngestionSettings
from services.scaler.adapters.kafka_lag import KafkaLagProbe
from shared.contracts.events import DocumentChanged, DocumentChunked, RequestAccepted
from shared.contracts.topics import Topic, dlq_name, topic_name
from shared.kit.topic_admin import ensure_topics
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints


async def test_poison_between_good_documents_is_dead_lettered(
    endpoints: Endpoints, client: PillarsClient, tenant: str
) -> None:
    settings = IngestionSettings(
        kafka_bootstrap_servers=endpoints.kafka_bootstrap_servers,
        database_url=endpoints.database_url,
    )
    app = create_app(settings)
    assert app.broker is not None
    chunks = await client.watch(Topic.CHUNKS)
    dlq = AIOKafkaConsumer(
        dlq_name(topic_name(Topic.DOCUMENTS)),
        bootstrap_servers=endpoints.kafka_bootstrap_servers,
        group_id=f"{tenant}-dlq-reader",
        auto_offset_reset="earliest",
    )
    await dlq.start()
    lifespan = app.lifespan_context()  # what `app.run()` does, without the signals
    await lifespan.__aenter__()
    await app.start()
    try:
        key = f"{tenant}/d".encode()  # one key: one partition, so order is what we sent
        await client.publish(
            Topic.DOCUMENTS, DocumentChanged(tenant=tenant, document_id="d", text="one")
        )
        await client.publish_raw(
            Topic.DOCUMENTS, b'{"tenant": "' + tenant.encode() + b'", "text": "no id"}', key
        )
        await client.publish(
            Topic.DOCUMENTS, DocumentChanged(tenant=tenant, document_id="d", text="two", version=2)
        )
        got = await chunks.collect(
            lambda events: sum(e.tenant == tenant for e in events) >= 2, timeout_s=60
        )
        mine = [e for e in got if isinstance(e, DocumentChunked) and e.tenant == tenant]
        assert [d.chunks[0].text for d in mine] == ["one", "two"]

        refused = None
        async for record in dlq:
            if record.key == key:
                refused = record
                break
        assert refused is not None
        headers = dict(refused.headers)
        assert b"no id" in (refused.value or b"")
        assert b"document_id" in headers["pillars_dlq_reason"]
        assert headers["pillars_dlq_consumer"] == b"pillars.ingestion.documents"
    finally:
        await app.stop()
        await lifespan.__aexit__(None, None, None)
        await chunks.stop()
        await dlq.stop()


async def test_lag_probe_counts_uncommitted_and_committed(
    endpoints: Endpoints, tenant: str
) -> None:
    bootstrap = endpoints.kafka_bootstrap_servers
    await ensure_topics(bootstrap, tenant, partitions=3)
    topic = topic_name(Topic.FEEDBACK, tenant)
    async with PillarsClient(bootstrap, prefix=tenant, source="/tests") as client:
        for i in range(10):
            await client.publish_raw(Topic.FEEDBACK, b"{}", key=f"k{i}".encode())
    probe = KafkaLagProbe(bootstrap)
    await probe.start()
    try:
        fresh = await probe.observe(f"{tenant}.nobody", topic)
        assert (fresh.lag, fresh.partitions, fresh.members) == (10, 3, 0)
        assert (fresh.end_offsets, fresh.committed) == (10, 0)  # never committed: from start
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=f"{tenant}.reader", enable_auto_commit=False
        )
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            ends = await consumer.end_offsets([tp])
            await consumer.commit({tp: ends[tp]})
            after = await probe.observe(f"{tenant}.reader", topic)
            assert after.lag == 10 - ends[tp]
            assert after.partition_lags[0] == 0
            assert (after.end_offsets, after.committed) == (10, ends[tp])
        finally:
            await consumer.stop()
    finally:
        await probe.stop()


async def test_a_request_redelivered_without_ids_keeps_its_identity(
    endpoints: Endpoints, tenant: str
) -> None:
    """A producer like the README's kcat line sends no `event_id`; after a crash ingestion
    reads the record again, and what it derives must be the same event as the first time."""
    bootstrap = endpoints.kafka_bootstrap_servers
    await ensure_topics(bootstrap, tenant, partitions=3)
    settings = IngestionSettings(
        kafka_bootstrap_servers=bootstrap,
        database_url=endpoints.database_url,
        topic_prefix=tenant,
    )
    body = b'{"tenant": "acme", "request_id": "r-2", "query": "returns?", "user_id": "u"}'
    async with PillarsClient(bootstrap, prefix=tenant, source="/tests") as client:
        accepted = await client.watch(Topic.REQUESTS_ACCEPTED)
        await client.publish_raw(Topic.REQUESTS, body, key=b"acme/r-2")
        seen: list[RequestAccepted] = []
        for delivery in range(2):
            app = create_app(settings)
            assert app.broker is not None
            async with app.lifespan_context():  # what `app.run()` does, without the signals
                await app.start()
                try:
                    got = await accepted.collect(lambda e: len(e) >= 1, timeout_s=60)
                finally:
                    await app.stop()
            seen += [e for e in got if isinstance(e, RequestAccepted)]
            if delivery == 0:  # as after a crash: the group's offsets go back to the record
                group = f"{tenant}.ingestion.requests"
                await rewind(bootstrap, group, topic_name(Topic.REQUESTS, tenant))
        await accepted.stop()
    assert len(seen) == 2
    assert seen[0].event_id == seen[1].event_id
    assert seen[0].request_occurred_at == seen[1].request_occurred_at


async def rewind(bootstrap: str, group: str, topic: str) -> None:
    """Commit offset 0 on every partition of `topic` for `group` (which has no members)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(partitions)
        await consumer.commit(dict.fromkeys(partitions, 0))
    finally:
        await consumer.stop()

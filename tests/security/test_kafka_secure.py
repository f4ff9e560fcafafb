"""Against the real broker in secure mode (SASL_SSL, SCRAM-SHA-512, ACLs from the topic map):
who is refused, what each principal may not do, and a service configured as for a managed
Kafka consuming and producing through it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)
from pydantic import SecretStr

from shared.contracts.events import DocumentChanged, DocumentChunked
from shared.contracts.topics import Topic, all_topic_names, consumer_group, topic_name
from shared.kit.kafka_security import KafkaSecuritySettings, kafka_client_options
from shared.kit.transactions import transactional_id
from shared.platform.acls import ADMIN, BUSINESS, principal_of
from shared.platform.client import PillarsClient
from shared.platform.runtime.kafka_secure import BrokerSecurity
from shared.platform.runtime.stack import Stack
from shared.platform.runtime.supervisor import Supervisor, service_command, service_env
from tests.security.conftest import SpanSink

pytestmark = pytest.mark.security


def _material(stack: Stack) -> BrokerSecurity:
    assert stack.broker_security is not None
    return stack.broker_security


def _bootstrap(stack: Stack) -> str:
    assert stack.endpoints is not None
    return stack.endpoints.kafka_bootstrap_servers


def _as(stack: Stack, principal: str) -> dict[str, Any]:
    return kafka_client_options(_material(stack).client_settings(principal))


async def _refused_start(client: AIOKafkaProducer | AIOKafkaConsumer) -> BaseException:
    """Start `client` and return what refused it (fails if it connected)."""
    try:
        async with asyncio.timeout(60):
            await client.start()
    except (KafkaError, TimeoutError, OSError) as exc:
        return exc
    finally:
        await client.stop()
    pytest.fail("the broker accepted the client")


async def _read_refused(consumer: AIOKafkaConsumer) -> BaseException:
    """Start `consumer`, read one record, and return the authorisation error that stopped it."""
    try:
        async with asyncio.timeout(60):
            await consumer.start()
            await consumer.getone()
    except (GroupAuthorizationFailedError, TopicAuthorizationFailedError) as exc:
        return exc
    finally:
        await consumer.stop()
    pytest.fail("the broker let the consumer read")


async def test_a_client_that_does_not_authenticate_is_refused(secure_stack: Stack) -> None:
    bootstrap = _bootstrap(secure_stack)
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    assert isinstance(await _refused_start(plain), KafkaConnectionError | TimeoutError)
    # TLS to the broker's CA, but no SASL: the handshake works, the connection does not.
    material = _material(secure_stack)
    tls_only = KafkaSecuritySettings(
        kafka_security_protocol="SSL", kafka_ssl_ca_location=material.ca_file
    )
    no_sasl = AIOKafkaProducer(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, **kafka_client_options(tls_only)
    )
    assert isinstance(await _refused_start(no_sasl), KafkaConnectionError | TimeoutError)


async def test_a_wrong_password_and_an_unknown_ca_are_refused(
    secure_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    material = _material(secure_stack)
    wrong = material.client_settings(principal_of("embedding")).model_copy(
        update={"kafka_sasl_password": SecretStr("not-the-password")}
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=_bootstrap(secure_stack),
        request_timeout_ms=5000,
        **kafka_client_options(wrong),
    )
    assert isinstance(await _refused_start(producer), KafkaConnectionError)
    assert "SaslAuthenticationFailed" in caplog.text
    assert "not-the-password" not in caplog.text
    # The system's CAs do not vouch for the embedded broker's certificate.
    system_ca = material.client_settings(ADMIN).model_copy(update={"kafka_ssl_ca_location": None})
    untrusting = AIOKafkaProducer(
        bootstrap_servers=_bootstrap(secure_stack),
        request_timeout_ms=5000,
        **kafka_client_options(system_ca),
    )
    assert isinstance(await _refused_start(untrusting), KafkaConnectionError | TimeoutError)


def test_a_service_with_a_wrong_password_stops_with_one_clear_line(secure_stack: Stack) -> None:
    """Not a silent retry loop nor a traceback: the reason, and exit status 2."""
    material = _material(secure_stack)
    env = service_env(_bootstrap(secure_stack), secure_stack.settings.database_url or "")
    env |= material.client_env(principal_of("trainer"))
    env["PILLARS_KAFKA_SASL_PASSWORD"] = "not-the-password"
    done = subprocess.run(
        service_command("trainer"), env=env, capture_output=True, text=True, timeout=180
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    assert "SaslAuthenticationFailed" in output
    [ours] = [line for line in output.splitlines() if "ERROR pillars" in line]
    assert "cannot connect to Kafka" in ours
    assert "not-the-password" not in output


async def test_a_service_cannot_write_a_topic_it_does_not_produce(secure_stack: Stack) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=_bootstrap(secure_stack), **_as(secure_stack, principal_of("embedding"))
    )
    await producer.start()
    try:
        async with asyncio.timeout(60):
            # Its own output goes through (the ACLs are not simply closed).
            await producer.send_and_wait(topic_name(Topic.INDEXED), b"{}", key=b"probe")
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(topic_name(Topic.PREDICTIONS), b"{}", key=b"x")
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(topic_name(Topic.DOCUMENTS), b"{}", key=b"x")
    finally:
        await producer.stop()


async def test_a_service_cannot_read_anothers_topic_or_use_anothers_group(
    secure_stack: Stack,
) -> None:
    bootstrap = _bootstrap(secure_stack)
    embedding = _as(secure_stack, principal_of("embedding"))
    theirs = consumer_group("pillars", "inference", Topic.REQUESTS_EMBEDDED)
    # A topic embedding consumes, in inference's group: the group is refused.
    stolen_group = AIOKafkaConsumer(
        topic_name(Topic.CHUNKS), bootstrap_servers=bootstrap, group_id=theirs, **embedding
    )
    assert isinstance(await _read_refused(stolen_group), GroupAuthorizationFailedError)
    # A topic embedding does not consume, in its own group: the topic is refused.
    own = consumer_group("pillars", "embedding", Topic.CHUNKS) + f".probe-{uuid.uuid4().hex[:6]}"
    other_topic = AIOKafkaConsumer(
        topic_name(Topic.PREDICTIONS), bootstrap_servers=bootstrap, group_id=own, **embedding
    )
    assert isinstance(await _read_refused(other_topic), TopicAuthorizationFailedError)


async def test_a_services_exactly_once_producer_may_use_its_own_transactional_ids_only(
    secure_stack: Stack,
) -> None:
    """`PILLARS_EXACTLY_ONCE`'s producers under ACLs: embedding's, for a partition it
    consumes, commits a transaction with its group's offsets; one with inference's id is
    refused."""
    bootstrap = _bootstrap(secure_stack)
    embedding = _as(secure_stack, principal_of("embedding"))
    group = consumer_group("pillars", "embedding", Topic.CHUNKS)
    own = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=transactional_id(group, TopicPartition(topic_name(Topic.CHUNKS), 0)),
        **embedding,
    )
    async with asyncio.timeout(60):
        await own.start()
    try:
        async with asyncio.timeout(60), own.transaction():
            await own.send_and_wait(topic_name(Topic.INDEXED), b"{}")
            offsets = {TopicPartition(topic_name(Topic.CHUNKS), 0): 0}
            await own.send_offsets_to_transaction(offsets, group)
    finally:
        await own.stop()
    theirs = consumer_group("pillars", "inference", Topic.REQUESTS_EMBEDDED)
    stolen = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=transactional_id(
            theirs, TopicPartition(topic_name(Topic.REQUESTS_EMBEDDED), 0)
        ),
        **embedding,
    )
    assert isinstance(await _refused_start(stolen), TransactionalIdAuthorizationFailed)


async def test_a_service_configured_like_for_managed_kafka_consumes_and_produces(
    secure_ingestion: Supervisor, secure_stack: Stack, tenant: str
) -> None:
    """Ingestion as a real process, configured only by `PILLARS_KAFKA_*` (SASL_SSL, SCRAM,
    a CA file, hostname verification on) as its own principal; a business system's
    principal publishes a document and its chunks come out."""
    [ingestion] = secure_ingestion.processes()
    assert ingestion.alive
    chunked = await _publish_and_chunk(secure_stack, tenant, "Secure transport works.")
    assert chunked.document_id == "d1"
    assert chunked.chunks[0].text == "Secure transport works."


async def test_no_secret_reaches_a_log_a_span_or_an_event(
    secure_ingestion: Supervisor,
    secure_stack: Stack,
    span_sink: SpanSink,
    tenant: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every password of the secure run and the broker's private key, searched for in the
    service's log, the broker's logs, this process' log, the spans the service exported and
    every record (value, key, headers) on every topic."""
    await _publish_and_chunk(secure_stack, tenant, "Nothing secret here.")
    material = _material(secure_stack)
    passwords = [material.password(p) for p in material.principals]
    key_line = json.loads((material.folder / "broker.json").read_text())["key"].splitlines()[5]
    secrets = [s.encode() for s in [*passwords, key_line]]
    # The batch span processor exports every second.
    assert await asyncio.to_thread(span_sink.received.wait, 60), "the service exported no span"
    kafka_dir = secure_stack.data_dir / "kafka"
    # The search finds a secret where one is meant to be: the broker's own properties.
    assert secrets[0] in (kafka_dir / "server.properties").read_bytes()
    haystacks = {
        "service logs": b"".join(p.log_path.read_bytes() for p in secure_ingestion.processes()),
        "broker logs": (kafka_dir / "kafka.log").read_bytes()
        + (kafka_dir / "kafka.out").read_bytes(),
        "test log": caplog.text.encode(),
        "spans": b"".join(span_sink.bodies),
        "events": await _every_record(secure_stack),
    }
    assert len(haystacks["events"]) > 0
    assert b"pillars.ingestion" in haystacks["service logs"] + haystacks["spans"]
    for where, haystack in haystacks.items():
        leaked = [i for i, secret in enumerate(secrets) if secret in haystack]
        assert not leaked, f"secret #{leaked} found in the {where}"


async def _publish_and_chunk(stack: Stack, tenant: str, text: str) -> DocumentChunked:
    material = _material(stack)
    bootstrap = _bootstrap(stack)
    business = material.client_settings(BUSINESS)
    async with (
        PillarsClient(bootstrap, source="/tests/business", security=business) as publisher,
        PillarsClient(bootstrap, source="/tests/admin", security=stack.kafka_admin) as admin,
    ):
        chunks = await admin.watch(Topic.CHUNKS)
        try:
            document = DocumentChanged(tenant=tenant, document_id="d1", text=text)
            await publisher.publish(Topic.DOCUMENTS, document)
            got = await chunks.collect(
                lambda events: any(e.tenant == tenant for e in events), timeout_s=120
            )
        finally:
            await chunks.stop()
    [chunked] = [e for e in got if isinstance(e, DocumentChunked) and e.tenant == tenant]
    return chunked


async def _every_record(stack: Stack) -> bytes:
    """Return every record on every pillars topic (values, keys, headers) as one blob."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=_bootstrap(stack), group_id=None, **_as(stack, ADMIN)
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in all_topic_names("pillars")
            for p in consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        blob = bytearray()
        async with asyncio.timeout(60):
            while any(
                p < ends[tp] for tp, p in [(t, await consumer.position(t)) for t in partitions]
            ):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for r in records:
                        blob += (r.key or b"") + (r.value or b"")
                        blob += b"".join(k.encode() + v for k, v in r.headers)
        return bytes(blob)
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()

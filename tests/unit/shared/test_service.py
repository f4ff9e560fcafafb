"""ServiceKit: batch subscribers hand records over as soon as they arrive; request topics are
read by several consumers a replica; handlers find what the lifespan built; records are
validated from their JSON; the services run on uvloop."""

from __future__ import annotations

import time

import pytest
import uvloop
from faststream import FastStream
from faststream.kafka.subscriber.usecase import (
    ConcurrentBetweenPartitionsSubscriber,
    DefaultSubscriber,
)
from faststream.message import StreamMessage
from pydantic import ValidationError

from shared.contracts.events import InferenceRequest
from shared.contracts.topics import Topic
from shared.kit.decoding import validated_as
from shared.kit.messaging import consumers_per_replica
from shared.kit.running import event_loop_factory, run_service
from shared.kit.service import ServiceKit
from shared.kit.settings import PillarsSettings, settings_problem


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


def test_request_topics_are_read_by_several_consumers_each_committing_its_own() -> None:
    kit = ServiceKit("inference", PillarsSettings(kafka_bootstrap_servers="unused:9092"))

    parallel: object = kit.subscriber(Topic.REQUESTS_EMBEDDED)
    evaluator = ServiceKit("evaluator", PillarsSettings(kafka_bootstrap_servers="unused:9092"))
    single: object = evaluator.subscriber(Topic.OUTCOMES)

    assert isinstance(parallel, ConcurrentBetweenPartitionsSubscriber)
    assert parallel.max_workers == 3
    assert consumers_per_replica(kit.settings, "ingestion", Topic.REQUESTS) == 3
    assert type(single) is DefaultSubscriber
    assert consumers_per_replica(kit.settings, "evaluator", Topic.OUTCOMES) == 1
    # the evaluator's copy of the request topic is off the request path: one consumer
    assert consumers_per_replica(kit.settings, "evaluator", Topic.REQUESTS_EMBEDDED) == 1
    one = ServiceKit(
        "inference",
        PillarsSettings(kafka_bootstrap_servers="unused:9092", request_consumers=1),
    )
    subscriber: object = one.subscriber(Topic.REQUESTS_EMBEDDED)
    assert type(subscriber) is DefaultSubscriber


def test_subscribers_and_publishers_are_declared_from_the_topic_map() -> None:
    kit = ServiceKit("ingestion", PillarsSettings(kafka_bootstrap_servers="unused:9092"))
    with pytest.raises(ValueError, match="ingestion does not consume predictions"):
        kit.subscriber(Topic.PREDICTIONS)
    with pytest.raises(ValueError, match="ingestion does not produce evaluations"):
        kit.publisher(Topic.EVALUATIONS)


async def test_a_record_is_validated_from_its_json_as_its_topics_event() -> None:
    decode = validated_as(InferenceRequest)
    request = InferenceRequest(tenant="acme", request_id="r1", query="How?", user_id="u1")
    body = request.model_dump_json().encode()
    decoded = await decode(StreamMessage(raw_message=None, body=body))
    assert decoded == request
    with pytest.raises(ValidationError, match="tenant"):
        await decode(StreamMessage(raw_message=None, body=b'{"request_id": "r2"}'))


def test_the_services_run_on_uvloop_unless_asked_for_asyncio() -> None:
    assert event_loop_factory("uvloop") is uvloop.new_event_loop
    assert event_loop_factory("asyncio") is None
    assert PillarsSettings(kafka_bootstrap_servers="k:9092").event_loop == "uvloop"


def test_a_bootstrap_list_reaches_the_broker_as_addresses() -> None:
    listed = "b1:9092, b2:9093,[::1]:9094"
    settings = PillarsSettings(kafka_bootstrap_servers=listed)
    assert settings.bootstrap_servers == ["b1:9092", "b2:9093", "[::1]:9094"]
    assert PillarsSettings(kafka_bootstrap_servers=["b1:9092", "b2:9093"]).bootstrap_servers == [
        "b1:9092",
        "b2:9093",
    ]
    kit = ServiceKit("ingestion", settings)
    # what aiokafka gets: each address on its own (FastStream wraps a plain string in a list)
    assert kit.broker._connection_kwargs["bootstrap_servers"] == settings.bootstrap_servers


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("b1:9092,b2", "'b2' is not host:port"),
        ("b1:99999", "a port from 1 to 65535"),
        ("bad host:9092", "is not a host name"),
        ("[nope]:9092", "not an IPv6 address"),
        (" , ", "no Kafka bootstrap address given"),
    ],
)
def test_a_bad_bootstrap_address_fails_with_one_line_naming_it(
    given: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILLARS_KAFKA_BOOTSTRAP_SERVERS", given)
    with pytest.raises(ValidationError) as raised:
        PillarsSettings()
    line = settings_problem(raised.value)
    assert "\n" not in line
    assert line.startswith("invalid settings: PILLARS_KAFKA_BOOTSTRAP_SERVERS")
    assert problem in line


def test_a_service_with_bad_settings_exits_with_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PILLARS_KAFKA_BOOTSTRAP_SERVERS", "b1:9092,b2")

    def create_app() -> FastStream:
        raise AssertionError("the app is not built on bad settings")

    with pytest.raises(SystemExit) as exited:
        run_service(create_app)
    assert exited.value.code == 2
    assert "'b2' is not host:port" in caplog.text

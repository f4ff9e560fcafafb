"""A record's event keeps one identity however often it is delivered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from services.ingestion.handlers import accept_request
from shared.contracts.events import InferenceRequest
from shared.experiments import Experiment
from shared.kit.records import event_from_record, record_identity, records_of

BODY = b'{"tenant": "acme", "request_id": "r-2", "query": "returns?"}'
STAMP_MS = 1_780_000_000_123


def record(
    offset: int = 7, headers: tuple[tuple[str, bytes], ...] = (), body: bytes = BODY
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="pillars.requests.v1",
        partition=1,
        offset=offset,
        timestamp=STAMP_MS,
        timestamp_type=0,
        key=b"acme/r-2",
        value=body,
        checksum=None,
        serialized_key_size=8,
        serialized_value_size=len(body),
        headers=headers,
    )


def test_a_redelivered_record_without_ids_is_the_same_event() -> None:
    first = event_from_record(InferenceRequest, BODY, record())
    again = event_from_record(InferenceRequest, BODY, record())
    assert first.event_id == again.event_id
    assert first.occurred_at == again.occurred_at == datetime.fromtimestamp(STAMP_MS / 1000, tz=UTC)
    # another record with the same body is another event
    assert event_from_record(InferenceRequest, BODY, record(offset=8)).event_id != first.event_id


async def test_what_ingestion_derives_from_a_redelivered_record_is_the_same() -> None:
    experiment = Experiment()
    accepted = [
        await accept_request(
            event_from_record(InferenceRequest, BODY, record()), experiment=experiment
        )
        for _ in range(2)
    ]
    assert accepted[0].event_id == accepted[1].event_id
    assert accepted[0].request_occurred_at == accepted[1].request_occurred_at


def test_cloudevents_headers_give_the_identity_when_set() -> None:
    ce_id = uuid.uuid4()
    headers = (("ce_id", str(ce_id).encode()), ("ce_time", b"2026-12-01T10:00:00+00:00"))
    event = event_from_record(InferenceRequest, BODY, record(headers=headers))
    assert event.event_id == ce_id
    assert event.occurred_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
    # a ce_id that is no UUID is still stable, and scoped by its source
    named = (("ce_id", b"order-17"), ("ce_source", b"/shop"))
    assert (
        record_identity(record(headers=named))["event_id"]
        == record_identity(record(offset=99, headers=named))["event_id"]
        != record_identity(record(headers=(("ce_id", b"order-17"),)))["event_id"]
    )
    # a ce_time without a zone is not trusted: the record's timestamp is
    naive = record_identity(record(headers=(("ce_time", b"2026-12-01T10:00:00"),)))
    assert naive["occurred_at"] == datetime.fromtimestamp(STAMP_MS / 1000, tz=UTC)


def test_ids_in_the_body_win_over_the_record() -> None:
    given = InferenceRequest(tenant="acme", request_id="r-3", query="q")
    body = given.model_dump_json().encode()
    decoded = event_from_record(InferenceRequest, body, record(body=body))
    assert (decoded.event_id, decoded.occurred_at) == (given.event_id, given.occurred_at)


def test_an_invalid_body_still_raises_and_a_record_or_batch_unwraps() -> None:
    with pytest.raises(ValidationError, match="request_id"):
        event_from_record(InferenceRequest, b'{"tenant": "acme"}', record())
    one = record()
    batch: Any = [one, record(offset=8)]
    assert records_of(one) == (one,)
    assert len(records_of(batch)) == 2


def keyed(key: bytes | None) -> ConsumerRecord[bytes, bytes]:
    found = record()
    return ConsumerRecord(**{**vars(found), "key": key})


@pytest.mark.parametrize("key", [b"acme/r-2", b"acme/other", None, b"no-tenant-named"])
def test_a_key_of_the_events_own_tenant_or_none_passes(key: bytes | None) -> None:
    assert event_from_record(InferenceRequest, BODY, keyed(key)).tenant == "acme"


@pytest.mark.parametrize("key", [b"globex/r-2", b"/r-2", b"\xff\xfe/r-2", b"acmex/r-2"])
def test_a_key_naming_another_tenant_is_refused(key: bytes) -> None:
    from shared.kit.records import KeyOfAnotherTenant

    with pytest.raises(KeyOfAnotherTenant, match=r"key names tenant .* but its body 'acme'"):
        event_from_record(InferenceRequest, BODY, keyed(key))

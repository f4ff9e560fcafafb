"""Hypothesis strategies for records the platform must refuse, and good ones it must take.

Every bad record is a mutation of a valid event of its topic (so it is bad in one way
only, and that way is named): not JSON, not UTF-8, a wrong type, a missing field, an
oversized value, a tombstone, a key naming another tenant, a NUL character, NaN or
infinity, a number beyond 64 bits. Good records carry the harmless oddities: no key,
unknown extra fields, control characters other than NUL.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from shared.contracts.events import (
    Chunk,
    DocumentChanged,
    DocumentChunked,
    Event,
    ExperimentChanged,
    Feedback,
    InferenceRequest,
    ModelRef,
    ModelRegistered,
    Outcome,
    Prediction,
    RequestAccepted,
    RequestEmbedded,
    TrainingRequested,
    utcnow,
)
from shared.contracts.topics import CONSUMED, EVENT_OF, Topic
from shared.experiments import Experiment

__all__ = ["KINDS", "BadRecord", "bad_records", "valid_event"]

KINDS = (
    "not_json",
    "invalid_utf8",
    "wrong_type",
    "missing_field",
    "oversized",
    "tombstone",
    "other_tenants_key",
    "nul_character",
    "nan",
    "infinity",
    "huge_integer",
)
# Control characters a good record may carry (NUL is the one Postgres cannot store).
CONTROL = "".join(map(chr, range(1, 32))) + "\x7f"


@dataclass(frozen=True)
class BadRecord:
    """A record to publish and why it is bad."""

    topic: Topic
    kind: str
    value: bytes | None
    key: bytes | None


def valid_event(topic: Topic, tenant: str, tag: str) -> Event:
    """Return a valid event of `topic` for `tenant`, ids ending in `tag`."""
    now = utcnow()
    model = ModelRef(name="m", version="1")
    request = InferenceRequest(tenant=tenant, request_id=f"r-{tag}", query="How do I sort?")
    accepted = RequestAccepted(
        **request.model_dump(exclude={"event_id"}),
        experiment="e",
        variant="top3",
        top_k=3,
        request_occurred_at=now,
    )
    embedded = RequestEmbedded(
        **accepted.model_dump(exclude={"event_id"}),
        query_vector=[1 / math.sqrt(384)] * 384,
        embedding_model=model,
    )
    prediction = Prediction(
        tenant=tenant,
        request_id=f"r-{tag}",
        query="q",
        experiment="e",
        variant="top3",
        answer="a",
        sources=[],
        model=model,
        embedding_model=model,
        request_occurred_at=now,
        stages=[],
    )
    events: dict[Topic, Event] = {
        Topic.DOCUMENTS: DocumentChanged(tenant=tenant, document_id=f"d-{tag}", text="Some text."),
        Topic.CHUNKS: DocumentChunked(
            tenant=tenant,
            document_id=f"d-{tag}",
            chunks=[Chunk(chunk_id=uuid.uuid4(), index=0, text="Some text.")],
            version=1,
            source_occurred_at=now,
        ),
        Topic.REQUESTS: request,
        Topic.REQUESTS_ACCEPTED: accepted,
        Topic.REQUESTS_EMBEDDED: embedded,
        Topic.PREDICTIONS: prediction,
        Topic.PREDICTIONS_SHADOW: prediction.model_copy(update={"shadow": True}),
        Topic.FEEDBACK: Feedback(
            tenant=tenant, feedback_id=f"f-{tag}", request_id=f"r-{tag}", kind="rating", value=4
        ),
        Topic.OUTCOMES: Outcome(
            tenant=tenant,
            feedback_id=f"f-{tag}",
            request_id=f"r-{tag}",
            kind="rating",
            value=4.0,
            experiment="e",
            variant="top3",
            answer="a",
            prediction_occurred_at=now,
        ),
        Topic.EXPERIMENTS: ExperimentChanged(
            tenant=tenant, name=f"fuzz-{tag}", version=1, experiment=Experiment(name="fuzz")
        ),
        Topic.TRAINING: TrainingRequested(tenant=tenant, model=f"fuzz-{tag}"),
        Topic.MODELS: ModelRegistered(tenant=tenant, model=f"fuzz-{tag}", version=1),
    }
    assert set(events) == set(CONSUMED)
    return events[topic]


def _body(event: Event) -> dict[str, Any]:
    return json.loads(event.model_dump_json())


def _refused(topic: Topic, body: dict[str, Any]) -> bool:
    try:
        EVENT_OF[topic].model_validate_json(json.dumps(body))
    except ValueError:
        return True
    return False


@st.composite
def bad_records(draw: st.DrawFn, topic: Topic, kind: str, tenant: str) -> BadRecord:
    """Draw a record of `topic` that is bad in the way `kind` names."""
    tag = uuid.uuid4().hex[:10]
    event = valid_event(topic, tenant, tag)
    body = _body(event)
    key: bytes | None = event.message_key
    value: bytes | None
    required = [n for n, f in EVENT_OF[topic].model_fields.items() if f.is_required()]
    text_fields = [n for n, v in body.items() if isinstance(v, str) and n != "occurred_at"]
    if kind == "not_json":
        value = b"{" + draw(st.binary(max_size=40)).replace(b"}", b"")
    elif kind == "invalid_utf8":
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80"]))
        value = json.dumps(body).encode().replace(tenant.encode(), tenant.encode() + junk, 1)
    elif kind == "wrong_type":
        name = draw(st.sampled_from(required))
        candidates = draw(st.permutations([[1, 2], {"a": 1}, None, True, [None], "text"]))
        body[name] = next(w for w in candidates if _refused(topic, {**body, name: w}))
        value = json.dumps(body).encode()
    elif kind == "missing_field":
        del body[draw(st.sampled_from(required))]
        value = json.dumps(body).encode()
    elif kind == "oversized":
        if topic is Topic.DOCUMENTS and draw(st.booleans()):  # over PILLARS_MAX_DOCUMENT_BYTES
            body["text"] = "Words. " * draw(st.integers(150_000, 160_000))
        else:
            body["tenant"] = tenant + "x" * draw(st.integers(64, 5000))
        value = json.dumps(body).encode()
    elif kind == "tombstone":
        value = None
    elif kind == "other_tenants_key":
        key = b"someone-else/" + key.split(b"/", 1)[1]
        value = json.dumps(body).encode()
    elif kind == "nul_character":
        name = draw(st.sampled_from(text_fields))
        body[name] = body[name] + "\x00" + draw(st.text(CONTROL, max_size=5))
        value = json.dumps(body).encode()
    elif kind in ("nan", "infinity"):
        literal = "NaN" if kind == "nan" else draw(st.sampled_from(["Infinity", "-Infinity"]))
        value = _with_number(body, draw, literal, int | float).encode()
    else:  # huge_integer
        huge = str(draw(st.sampled_from([2**63, 2**64 + 1, 10**40, -(2**63) - 1])))
        value = _with_number(body, draw, huge, int).encode()
    # A producer that sets no key (a tombstone needs one: Kafka clients refuse a record
    # with neither).
    if kind not in ("other_tenants_key", "tombstone") and draw(st.booleans()):
        key = None
    return BadRecord(topic, kind, value, key)


def _with_number(body: dict[str, Any], draw: st.DrawFn, literal: str, kind: type) -> str:
    """Return `body` as JSON with one of its `kind` (int, or any number) fields set to
    `literal`, written as JSON text (a float field holds any finite number: no integer
    is too big for it)."""
    numeric = [n for n, v in body.items() if isinstance(v, kind) and not isinstance(v, bool)]
    name = draw(st.sampled_from(numeric or ["schema_version"]))
    body[name] = "__NUMBER__"
    return json.dumps(body).replace('"__NUMBER__"', literal)

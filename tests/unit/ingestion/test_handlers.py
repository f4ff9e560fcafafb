from datetime import UTC, datetime

import pytest

from services.ingestion.handlers import accept_request, chunk_document
from shared.contracts.events import DocumentChanged, InferenceRequest, ShadowArm
from shared.experiments import Arm, Experiment
from shared.kit.deadletter import Rejected
from tests.fakes import InMemoryAssignments, WordTokenizer

TEXT = "First paragraph about JSON.\n\nSecond paragraph about paths. " * 20


def chunk(event: DocumentChanged, max_bytes: int = 10_000):
    return chunk_document(
        event, tokens=WordTokenizer(), chunk_size=30, overlap=8, max_bytes=max_bytes
    )


def test_upsert_becomes_chunks_with_deterministic_ids() -> None:
    doc = DocumentChanged(tenant="acme", document_id="d1", text=TEXT, version=2)
    first, again = chunk(doc), chunk(doc.model_copy(update={"event_id": doc.event_id}))
    assert len(first.chunks) > 1
    assert [c.chunk_id for c in first.chunks] == [c.chunk_id for c in again.chunks]
    assert all(len(c.text.split()) <= 30 for c in first.chunks)
    assert first.version == 2
    assert first.source_occurred_at == doc.occurred_at


def test_changed_text_changes_chunk_ids_and_other_tenant_too() -> None:
    base = chunk(DocumentChanged(tenant="acme", document_id="d1", text="Alpha beta."))
    edited = chunk(DocumentChanged(tenant="acme", document_id="d1", text="Alpha gamma."))
    other = chunk(DocumentChanged(tenant="other", document_id="d1", text="Alpha beta."))
    assert base.chunks[0].chunk_id != edited.chunks[0].chunk_id
    assert base.chunks[0].chunk_id != other.chunks[0].chunk_id


def test_delete_carries_no_chunks() -> None:
    out = chunk(DocumentChanged(tenant="acme", document_id="d1", op="delete", version=3))
    assert out.deleted
    assert out.chunks == []
    assert out.version == 3


@pytest.mark.parametrize(
    ("text", "limit", "reason"),
    [("   \n\n  ", 10_000, "no text"), ("x" * 101, 100, "over the 100-byte limit")],
)
def test_empty_or_oversized_documents_are_rejected(text: str, limit: int, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        chunk(DocumentChanged(tenant="acme", document_id="d1", text=text), max_bytes=limit)


async def test_request_gets_a_stable_arm_per_user() -> None:
    experiment = Experiment(
        name="exp",
        salt="s",
        arms=(
            Arm(name="a", weight=1, top_k=2),
            Arm(name="b", weight=1, solution="router"),
            Arm(name="s", solution="text-classifier", shadow=True),
        ),
    )
    clock = iter([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)])
    request = InferenceRequest(tenant="acme", request_id="r1", query="q?", user_id="u7")
    accepted = await accept_request(request, experiment=experiment, clock=lambda: next(clock))
    again = await accept_request(request, experiment=experiment)
    assert accepted.variant == again.variant
    assert accepted.experiment == "exp"
    assert accepted.event_id == again.event_id  # replay-safe
    assert accepted.stages[0].duration_ms == 1000
    assert (accepted.solution, accepted.top_k) == (
        ("rag-answerer", 2) if accepted.variant == "a" else ("router", None)
    )
    assert accepted.shadows == [ShadowArm(variant="s", solution="text-classifier")]


async def test_changing_weights_keeps_remembered_users_in_their_arms() -> None:
    before = Experiment(name="exp", arms=(Arm(name="a", weight=1), Arm(name="b", weight=1)))
    after = Experiment(name="exp", arms=(Arm(name="a", weight=1), Arm(name="b", weight=9)))
    book = InMemoryAssignments()
    users = [f"u{i}" for i in range(200)]

    async def arms(experiment: Experiment) -> list[str]:
        requests = [
            InferenceRequest(tenant="t", request_id=f"r-{u}", query="q", user_id=u) for u in users
        ]
        return [
            (await accept_request(r, experiment=experiment, assignments=book)).variant
            for r in requests
        ]

    first = await arms(before)
    assert await arms(after) == first
    # Without the memory the new weights would have moved many of them.
    moved = [
        (
            await accept_request(
                InferenceRequest(tenant="t", request_id="x", query="q", user_id=u), experiment=after
            )
        ).variant
        for u in users
    ]
    assert sum(m != f for m, f in zip(moved, first, strict=True)) > 40
    # A removed arm's users are assigned again, under the current weights.
    only_b = Experiment(name="exp", arms=(Arm(name="b", weight=1),))
    assert set(await arms(only_b)) == {"b"}


async def test_request_id_units_are_not_remembered() -> None:
    experiment = Experiment(unit="request_id")
    book = InMemoryAssignments()
    request = InferenceRequest(tenant="t", request_id="r", query="q", user_id="u")
    await accept_request(request, experiment=experiment, assignments=book)
    assert book.rows == {}


async def test_an_arms_model_version_travels_with_the_request_and_its_shadows() -> None:
    experiment = Experiment(
        name="loop",
        unit="request_id",
        arms=(
            Arm(name="production", weight=1.0, solution="text-classifier"),
            Arm(name="shadow-v7", solution="text-classifier", model_version=7, shadow=True),
        ),
    )
    request = InferenceRequest(tenant="acme", request_id="r1", query="q?")
    accepted = await accept_request(request, experiment=experiment)
    assert (accepted.variant, accepted.model_version) == ("production", None)
    assert [(s.variant, s.model_version) for s in accepted.shadows] == [("shadow-v7", 7)]


async def test_a_shadow_arm_of_one_live_arm_answers_only_that_arms_requests() -> None:
    experiment = Experiment(
        name="two-models",
        unit="request_id",
        arms=(
            Arm(name="reviews", weight=0.5, solution="text-classifier"),
            Arm(name="tickets", weight=0.5, solution="text-classifier"),
            Arm(name="shadow-v7", solution="text-classifier", shadow=True, shadows="reviews"),
            Arm(name="everywhere", solution="router", shadow=True),
        ),
    )
    seen: dict[str, list[str]] = {}
    for i in range(40):
        request = InferenceRequest(tenant="acme", request_id=f"r{i}", query="q?")
        accepted = await accept_request(request, experiment=experiment)
        seen.setdefault(accepted.variant, []).extend(s.variant for s in accepted.shadows)
    assert set(seen["reviews"]) == {"shadow-v7", "everywhere"}
    assert set(seen["tickets"]) == {"everywhere"}


def test_a_refused_request_is_answered_at_once_with_why() -> None:
    from services.ingestion.handlers import REFUSED_BY, refuse_request

    at = datetime(2026, 1, 1, tzinfo=UTC)
    request = InferenceRequest(tenant="acme", request_id="r1", query="q?", user_id="u1")
    refused = refuse_request(request, reason="over its rate", experiment="e", clock=lambda: at)
    assert refused.rejected == "over its rate"
    assert (refused.tenant, refused.request_id, refused.query) == ("acme", "r1", "q?")
    assert refused.message_key == request.message_key  # the request's partition and order
    assert (refused.answer, refused.sources, refused.model) == ("", [], REFUSED_BY)
    assert refused.request_occurred_at == request.occurred_at
    assert refused.occurred_at == at
    again = refuse_request(request, reason="over its rate", experiment="e", clock=lambda: at)
    assert again.event_id == refused.event_id  # a redelivered request: the same refusal

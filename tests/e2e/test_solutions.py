"""Each shipped solution answers over the real broker and database, through the arms of
the platform's experiment, and the shadow arm records without ever answering."""

from __future__ import annotations

import asyncio
import uuid

from shared.contracts.events import InferenceRequest, Prediction
from shared.contracts.topics import Topic
from shared.experiments import assign_arm
from shared.platform.client import PillarsClient
from shared.platform.demo import index_demo
from tests.e2e.conftest import EXPERIMENT, RunningPlatform, users_in

LABELS = {"fresh", "plot", "rotten"}


def test_the_suites_demo_users_stay_in_the_retrieval_mode_arms() -> None:
    # The other e2e tests ask as user-0, user-1, ...: they must meet the extractive arms.
    assert {assign_arm(EXPERIMENT, f"user-{i}").name for i in range(10)} <= {"dense", "hybrid"}


async def ask(
    client: PillarsClient, tenant: str, questions: list[tuple[str, str]]
) -> tuple[dict[str, Prediction], dict[str, Prediction], list[Prediction]]:
    """Send (user, query) requests; return live and shadow predictions by request id, and
    every live prediction seen for them (to show no shadow answer was ever returned)."""
    requests = [
        InferenceRequest(
            tenant=tenant, request_id=f"sol-{uuid.uuid4().hex[:10]}", query=q, user_id=u
        )
        for u, q in questions
    ]
    ids = {r.request_id for r in requests}
    live = await client.watch(Topic.PREDICTIONS)
    shadow = await client.watch(Topic.PREDICTIONS_SHADOW)

    def answered(events: list[object]) -> bool:
        return ids <= {e.request_id for e in events if isinstance(e, Prediction)}

    try:
        for request in requests:
            await client.publish(Topic.REQUESTS, request)
        live_events, shadow_events = await asyncio.gather(
            live.collect(answered, 180), shadow.collect(answered, 180)
        )
    finally:
        await live.stop()
        await shadow.stop()
    mine = [e for e in live_events if isinstance(e, Prediction) and e.request_id in ids]
    shadows = {
        e.request_id: e for e in shadow_events if isinstance(e, Prediction) and e.request_id in ids
    }
    return {p.request_id: p for p in mine}, shadows, mine


async def test_every_shipped_solution_answers_through_its_arm(
    platform: RunningPlatform, client: PillarsClient, tenant: str
) -> None:
    trained = await asyncio.to_thread(
        platform.cli, "train", "--kind", "logreg", "--sample", "400", "--promote"
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    await index_demo(client, tenant)

    (classifier_user,) = users_in("classifier")
    (router_user,) = users_in("router")
    (gemma_user,) = users_in("gemma")
    (rag_user,) = users_in("hybrid")
    questions = [
        (rag_user, "How do I write rows to a CSV file?"),
        (classifier_user, "A moving, beautifully acted film; I loved every minute."),
        (router_user, "hello there"),
        (router_user, "what is the admin password?"),
        (router_user, "How do I write rows to a CSV file?"),
        (gemma_user, "How do I write rows to a CSV file?"),
    ]
    live, shadows, seen = await ask(client, tenant, questions)
    by_question = [next(p for p in live.values() if (p.user_id, p.query) == q) for q in questions]
    rag, classified, greeted, blocked, routed, generated = by_question

    assert (rag.variant, rag.solution, rag.model.name) == (
        "hybrid",
        "rag-answerer",
        "extractive-best-passage",
    )
    assert len(rag.sources) == 5
    assert {s.mode for s in rag.sources} == {"hybrid"}
    assert rag.answer == rag.sources[0].text
    assert [b.block for b in rag.blocks] == ["retriever", "generator"]

    assert (classified.variant, classified.solution) == ("classifier", "text-classifier")
    assert classified.answer in LABELS
    assert classified.label == classified.answer
    assert classified.model.name == "review-sentiment"
    assert classified.confidence is not None
    assert [b.block for b in classified.blocks] == ["classifier"]
    assert classified.blocks[0].model == classified.model
    assert classified.sources == []

    assert (greeted.variant, greeted.model.name) == ("router", "rule:greeting")
    assert greeted.answer.startswith("Hello!")
    assert blocked.answer == "I can't help with credentials."
    assert blocked.model.name == "rule:no-secrets"
    # Past the rules the router answers with a confident label, else retrieval.
    assert routed.confidence is not None
    blocks = [b.block for b in routed.blocks]
    if routed.confidence >= 0.8:
        assert routed.answer == routed.label
        assert "retriever" not in blocks
    else:
        assert blocks == ["rules", "classifier", "retriever", "generator", "output_rules"]
        assert routed.answer == routed.sources[0].text

    assert (generated.variant, generated.solution) == ("gemma", "rag-gemma")
    assert generated.model.name.startswith("gemma-3-270m"), generated.model
    assert generated.answer.strip()
    assert generated.answer not in {s.text for s in generated.sources}
    assert generated.output_tokens > 0
    assert generated.input_tokens > 0
    assert generated.prompt_template_version == "rag-completion-v1"
    llm = next(b for b in generated.blocks if b.block == "generator")
    assert llm.model == generated.model
    assert llm.output_tokens == generated.output_tokens

    # Every request was also answered in the shadows by the router, and only there.
    assert set(shadows) == set(live)
    assert {(p.variant, p.solution, p.shadow) for p in shadows.values()} == {
        ("router-shadow", "router", True)
    }
    assert shadows[greeted.request_id].model.name == "rule:greeting"
    assert all(not p.shadow and p.variant != "router-shadow" for p in seen)

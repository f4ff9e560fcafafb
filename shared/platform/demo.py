"""`pillars demo`: real documentation in, questions through the chain, predictions out."""

from __future__ import annotations

import importlib
import inspect
import uuid
from dataclasses import dataclass

from shared.contracts.events import (
    DocumentChanged,
    DocumentIndexed,
    Event,
    InferenceRequest,
    Prediction,
)
from shared.contracts.topics import Topic
from shared.platform.client import PillarsClient

__all__ = ["DEMO_QUESTIONS", "DemoQuestion", "demo_documents", "index_demo", "run_demo"]

TENANT = "demo"
# Modules of Python's own standard library: real documentation that ships with every install.
DEMO_MODULES = ("json", "pathlib", "collections", "argparse", "functools", "sqlite3", "csv")


@dataclass(frozen=True)
class DemoQuestion:
    """A question and the document a good retrieval should find."""

    query: str
    expected_document: str


DEMO_QUESTIONS = (
    DemoQuestion("How do I serialize a Python object to a JSON formatted string?", "json"),
    DemoQuestion("How can I count how many times each element occurs?", "collections"),
    DemoQuestion("How do I parse command-line arguments and options?", "argparse"),
    DemoQuestion("How can I read rows from a comma-separated values file?", "csv"),
)


def demo_documents(
    tenant: str = TENANT, modules: tuple[str, ...] = DEMO_MODULES
) -> list[DocumentChanged]:
    """Return one document per module: its docstring and those of its public names."""
    documents = []
    for name in modules:
        module = importlib.import_module(name)
        parts = [inspect.getdoc(module) or ""]
        for attr in sorted(getattr(module, "__all__", ())):
            doc = inspect.getdoc(getattr(module, attr, None))
            if doc:
                parts.append(f"{name}.{attr}: {doc}")
        documents.append(
            DocumentChanged(
                tenant=tenant,
                document_id=name,
                title=f"The {name} module",
                source=f"https://docs.python.org/3.11/library/{name}.html",
                text="\n\n".join(parts)[:60_000],
            )
        )
    return documents


async def index_demo(client: PillarsClient, tenant: str, timeout_s: float = 180.0) -> None:
    """Publish the demo documents for `tenant` and wait until every one is searchable."""
    documents = demo_documents(tenant)
    indexed = await client.watch(Topic.INDEXED)
    try:
        for document in documents:
            await client.publish(Topic.DOCUMENTS, document)
        wanted = {d.document_id for d in documents}
        await indexed.collect(
            lambda events: wanted <= _ids(events, tenant, DocumentIndexed, "document_id"),
            timeout_s,
        )
    finally:
        await indexed.stop()


async def run_demo(
    client: PillarsClient, *, tenant: str = TENANT, timeout_s: float = 180.0
) -> list[Prediction]:
    """Index the demo documents, ask the demo questions, and return their predictions."""
    await index_demo(client, tenant, timeout_s)
    predictions = await client.watch(Topic.PREDICTIONS)
    try:
        requests = [
            InferenceRequest(
                tenant=tenant,
                request_id=f"demo-{uuid.uuid4().hex[:12]}",
                query=q.query,
                user_id=f"user-{i}",
            )
            for i, q in enumerate(DEMO_QUESTIONS)
        ]
        for request in requests:
            await client.publish(Topic.REQUESTS, request)
        asked = {r.request_id for r in requests}
        events = await predictions.collect(
            lambda events: asked <= _ids(events, tenant, Prediction, "request_id"), timeout_s
        )
    finally:
        await predictions.stop()
    by_id = {e.request_id: e for e in events if isinstance(e, Prediction)}
    return [by_id[r.request_id] for r in requests]


def _ids(events: list[Event], tenant: str, kind: type[Event], field: str) -> set[str]:
    return {getattr(e, field) for e in events if isinstance(e, kind) and e.tenant == tenant}


def format_prediction(prediction: Prediction) -> str:
    """Return a prediction as a few readable lines for the terminal."""
    if prediction.rejected is not None:
        return f"Q: {prediction.query}\n   refused: {prediction.rejected}"
    answer = " ".join(prediction.answer.split())
    e2e_ms = (prediction.occurred_at - prediction.request_occurred_at).total_seconds() * 1000
    lines = [
        f"Q: {prediction.query}",
        f"A: {answer[:300]}{'...' if len(answer) > 300 else ''}",
        "   sources: "
        + ", ".join(
            f"{s.document_id}#{str(s.chunk_id)[:8]} ({s.score:.3f})" for s in prediction.sources
        ),
        f"   variant: {prediction.experiment}/{prediction.variant}   "
        f"model: {prediction.model.name}   trace: {prediction.trace_id}",
        "   stages: "
        + "  ".join(f"{s.service} {s.duration_ms:.1f} ms" for s in prediction.stages)
        + f"   end-to-end {e2e_ms:.0f} ms",
        f"   see its trace: pillars trace {prediction.request_id}",
    ]
    return "\n".join(lines)

"""A Retriever that records each search as an OpenInference RETRIEVER span and a metric."""

from __future__ import annotations

import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.util.types import AttributeValue

from services.inference.metrics import RETRIEVAL_DURATION
from services.inference.ports import Retriever
from services.inference.retrieval import RetrievalPlan
from shared.contracts.events import RetrievedChunk
from shared.kit.openinference import Kind, model_span, retrieval_attributes

__all__ = ["TracedRetriever"]

DENSE = RetrievalPlan()


class TracedRetriever:
    """Wraps a Retriever: same results, plus the span (documents with scores) and timing."""

    def __init__(self, inner: Retriever, tracer: TracerProvider, *, ef_search: int) -> None:
        self._inner = inner
        self._tracer = tracer
        self._ef_search = ef_search

    async def nearest(
        self,
        tenant: str,
        vector: Sequence[float],
        k: int,
        *,
        ef_search: int | None = None,
        text: str = "",
        plan: RetrievalPlan = DENSE,
    ) -> list[RetrievedChunk]:
        """Return the inner retriever's chunks, recording the search."""
        attributes: dict[str, AttributeValue] = {
            "pillars.tenant": tenant,
            "pillars.top_k": k,
            "pillars.ef_search": ef_search or self._ef_search,
            "pillars.retrieval.mode": plan.mode,
            "pillars.retrieval.embedder": plan.embedder,
        }
        if plan.mode == "hybrid":
            attributes["pillars.retrieval.fusion"] = plan.fusion
            attributes["pillars.retrieval.candidates"] = plan.candidates
            attributes["pillars.retrieval.rrf_k"] = plan.rrf_k
        with model_span(self._tracer, Kind.RETRIEVER, "inference retrieve", attributes) as span:
            started = time.perf_counter()
            sources = await self._inner.nearest(
                tenant, vector, k, ef_search=ef_search, text=text, plan=plan
            )
            RETRIEVAL_DURATION.observe(time.perf_counter() - started)
            span.set_attributes(retrieval_attributes(sources))
        return sources

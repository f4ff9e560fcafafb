"""The retriever's SQL: one statement per mode, its sides as CTEs, the tenant filter on each.

The dense side searches the vector column of the plan's embedding model.

Dense: the HNSW index (`ORDER BY embedding <=> vector LIMIT n`, iterative scan for the
tenant filter). Lexical: BM25 over the GIN-indexed lexemes, the query parsed with the
text search configuration the tenant's chunks were indexed with; each query term's
document frequency and the tenant's number of chunks are read from the lexicon the
index keeps (services/embedding/adapters/pg_lexicon.py), one primary-key probe each.
Terms in more than 10% of the tenant's chunks (at least 20, at most `df_cap`) are near
stop words of this tenant and score nothing, unless every term is that common. Lexical
mode ranks every chunk holding a term (MaxScore skips those that cannot make the top);
hybrid's lexical side ranks the chunks of the query's rarest terms, and both sides'
candidates are fused (see services.inference.retrieval).
"""

from __future__ import annotations

import re

from services.inference.retrieval import RetrievalPlan
from shared.contracts.embedders import PRIMARY, vector_column

__all__ = ["MAX_RANK", "retrieval_sql"]

MAX_RANK = 1 << 30  # "not on this side" when ordering by the better of two ranks
BM25_K1, BM25_B = 1.2, 0.75
# A query term in more than this share of the tenant's chunks (at least MIN_CAP, at most
# the plan's lexical_df_cap) is a near stop word there: it scores no chunk unless every
# term is that common, so the chunks to score stay few.
COMMON_SHARE, MIN_CAP = 0.1, 20
# Chunks the lexical side scores at most (every chunk matching a rare query term, usually
# far fewer): bounds its latency on queries made only of very common terms.
LEXICAL_POOL = 5000
# The rarest query terms are scored first until they hold this many times `candidates`
# chunks: enough for the score that bounds which other chunks are worth scoring.
SEED_FACTOR = 4

# `{column}`: the vector column of the plan's embedding model (each has its own HNSW index;
# a chunk not yet embedded by a secondary model has NULL there, which the index skips).
_DENSE = """
dense AS (
    SELECT chunk_id, 1 - distance AS score,
           row_number() OVER (ORDER BY distance, chunk_id)::int AS rank
    FROM (SELECT chunk_id, {column} <=> :vector AS distance FROM pillars_chunks
          WHERE tenant = :tenant{present}
          ORDER BY {column} <=> :vector LIMIT :candidates) AS nearest
)"""


def _bm25(terms: str, excluded: str = "") -> str:
    """BM25 of the chunks holding any of `terms`' lexemes (a CTE of kept terms), `excluded`:
    a CTE of terms whose chunks are left out (scored already). Only the query's lexemes of
    each chunk are unnested: marked (weight A) and filtered in C, where unnesting every
    lexeme of every matched chunk to join them was most of the lexical side's time."""
    unless = (
        f" AND NOT c.lexemes @@ (SELECT string_agg(term, ' | ')::tsquery FROM {excluded})"
        if excluded
        else ""
    )
    return f"""
    SELECT m.chunk_id,
           sum(k.idf * u.tf * {BM25_K1 + 1}
               / (u.tf + {BM25_K1} * ({1 - BM25_B} + {BM25_B} * m.dl / n.avgdl))) AS score
    FROM (SELECT c.chunk_id, length(c.lexemes)::float8 AS dl,
                 ts_filter(setweight(c.lexemes, 'A', (SELECT lexemes FROM wanted)), '{{a}}')
                   AS found
          FROM pillars_chunks c
          WHERE c.tenant = :tenant
            AND c.lexemes @@ (SELECT string_agg(term, ' | ')::tsquery FROM {terms}){unless}
          LIMIT {LEXICAL_POOL}) AS m
    CROSS JOIN sizes n
    CROSS JOIN LATERAL (SELECT lexeme, cardinality(positions)::float8 AS tf
                        FROM unnest(m.found)) AS u
    JOIN kept k ON k.lexeme = u.lexeme
    GROUP BY m.chunk_id"""


_LEXICAL = f"""
config AS (SELECT text_config FROM pillars_chunks WHERE tenant = :tenant LIMIT 1),
terms AS (
    SELECT DISTINCT term,
           replace(substr(term, 2, length(term) - 2), '''''', '''') AS lexeme
    FROM config, string_to_table(
        nullif(plainto_tsquery(config.text_config, :text)::text, ''), ' & ') AS term
),
sizes AS (
    SELECT n.chunks, n.avgdl,
           least(:df_cap, greatest({MIN_CAP}, ceil(n.chunks * {COMMON_SHARE})))::int AS cap
    FROM (SELECT coalesce(max(chunks), 0) AS chunks,
                 coalesce(max(lengths)::float8 / nullif(max(chunks), 0), 1) AS avgdl
          FROM pillars_lexicon WHERE tenant = :tenant AND lexeme = '') AS n
),
counted AS (
    -- A probe of the lexicon's primary key per term (a join would be planned as a scan of
    -- the tenant's whole lexicon: the planner cannot tell how few terms a query has).
    SELECT t.term, t.lexeme,
           coalesce((SELECT x.chunks FROM pillars_lexicon x
                     WHERE x.tenant = :tenant AND x.lexeme = t.lexeme), 0) AS df
    FROM terms t
),
kept AS (
    -- `bound`: the most a term can add to a chunk's score (its BM25 as tf grows).
    SELECT k.term, k.lexeme, k.df, i.idf, i.idf * {BM25_K1 + 1} AS bound
    FROM counted k CROSS JOIN sizes n
    CROSS JOIN LATERAL (SELECT ln(1 + (n.chunks - k.df + 0.5)::float8 / (k.df + 0.5)) AS idf) i
    WHERE k.df > 0 AND (k.df < n.cap OR NOT EXISTS (
        SELECT FROM counted r WHERE r.df > 0 AND r.df < n.cap))
),
wanted AS (SELECT array_agg(lexeme) AS lexemes FROM kept),
-- The chunks of the query's rarest terms (ascending document frequency, until they hold
-- SEED_FACTOR x candidates chunks), scored over every kept term.
rarest AS (
    SELECT term FROM (SELECT term, sum(df) OVER (ORDER BY df, term) - df AS before FROM kept) r
    WHERE r.before < {SEED_FACTOR} * :candidates
),
seeded AS ({_bm25("rarest")}
),"""

# Lexical mode ranks every chunk holding a kept term, by MaxScore (Turtle and Flood, 1995):
# the rarest terms' chunks, scored first, give a score the `candidates`-th best chunk
# reaches at least; a chunk holding only terms whose bounds add up to less cannot be among
# the best, so of the other chunks only those of the remaining ("essential") terms are
# scored. The same best chunks as scoring them all, for a fraction of the chunks when the
# query has common terms.
_EXHAUSTIVE = (
    """
threshold AS (
    SELECT coalesce((SELECT score FROM seeded ORDER BY score DESC
                     OFFSET :candidates - 1 LIMIT 1), 0) AS score
),
essential AS (
    SELECT term FROM (SELECT term, sum(bound) OVER (ORDER BY bound, term) AS upto FROM kept) e
    WHERE e.upto >= (SELECT score FROM threshold) AND term NOT IN (SELECT term FROM rarest)
),
scored AS (
    SELECT * FROM seeded
    UNION ALL ("""
    + _bm25("essential", excluded="rarest")
    + """
    )
),"""
)
# Hybrid's lexical side ranks the chunks of the rarest terms only: what it brings to the
# dense side is the chunks that hold a query's identifiers, names and codes, which dense
# search misses, while the chunks that only share its common words are what dense search
# ranks well already. On the 20k-chunk Python docs this ranked better than the exhaustive
# side (MRR@10 0.605 against 0.601 fused) for a fraction of the chunks scored.
_RAREST_ONLY = """
scored AS (SELECT * FROM seeded),"""

_RANKED = """
lexical AS (
    SELECT chunk_id, score::float8 AS score,
           row_number() OVER (ORDER BY score DESC, chunk_id)::int AS rank
    FROM scored ORDER BY score DESC, chunk_id LIMIT :candidates
)"""

_RRF = """
fused AS (
    SELECT coalesce(d.chunk_id, l.chunk_id) AS chunk_id,
           d.rank AS dense_rank, d.score AS dense_score,
           l.rank AS lexical_rank, l.score AS lexical_score,
           coalesce(1.0::float8 / (:rrf_k + d.rank), 0)
             + coalesce(1.0::float8 / (:rrf_k + l.rank), 0) AS fused_score
    FROM dense d FULL JOIN lexical l ON d.chunk_id = l.chunk_id
)"""

_WEIGHTED = """
bounds AS (
    SELECT (SELECT min(score) FROM dense) AS d_low, (SELECT max(score) FROM dense) AS d_high,
           (SELECT min(score) FROM lexical) AS l_low, (SELECT max(score) FROM lexical) AS l_high
),
fused AS (
    SELECT coalesce(d.chunk_id, l.chunk_id) AS chunk_id,
           d.rank AS dense_rank, d.score AS dense_score,
           l.rank AS lexical_rank, l.score AS lexical_score,
           :dense_weight * CASE WHEN d.score IS NULL THEN 0 WHEN b.d_high <= b.d_low THEN 1
                                ELSE (d.score - b.d_low) / (b.d_high - b.d_low) END
             + (1 - :dense_weight) * CASE WHEN l.score IS NULL THEN 0
                                          WHEN b.l_high <= b.l_low THEN 1
                                          ELSE (l.score - b.l_low) / (b.l_high - b.l_low) END
             AS fused_score
    FROM dense d FULL JOIN lexical l ON d.chunk_id = l.chunk_id CROSS JOIN bounds b
)"""

_ONE_SIDE = """
fused AS (
    SELECT chunk_id, {dense} AS dense_rank, {dense_score} AS dense_score,
           {lexical} AS lexical_rank, {lexical_score} AS lexical_score,
           NULL::float8 AS fused_score
    FROM {side}
)"""

_SELECT = """
SELECT c.chunk_id, c.document_id, c.title, c.source, c.text,
       f.dense_rank, f.dense_score, f.lexical_rank, f.lexical_score, f.fused_score,
       1 - (c.{column} <=> :vector) AS similarity
FROM fused f JOIN pillars_chunks c ON c.chunk_id = f.chunk_id AND c.tenant = :tenant
ORDER BY coalesce(f.fused_score, f.dense_score, f.lexical_score) DESC,
         least(coalesce(f.dense_rank, {max_rank}), coalesce(f.lexical_rank, {max_rank})),
         c.chunk_id
LIMIT :k"""


def retrieval_sql(plan: RetrievalPlan) -> tuple[str, tuple[str, ...]]:
    """Return the statement of `plan`'s mode with `$n` placeholders, and the parameter names
    in `$n` order (vector, tenant, text, k, candidates, rrf_k, dense_weight, df_cap)."""
    column = vector_column(plan.embedder)
    # The primary's column is NOT NULL: its statement stays as it was, plan included.
    present = "" if plan.embedder == PRIMARY else f" AND {column} IS NOT NULL"
    dense = _DENSE.format(column=column, present=present)
    if plan.mode == "dense":
        ctes = [dense, _ONE_SIDE.format(**_side("dense"))]
    elif plan.mode == "lexical":
        ctes = [_LEXICAL + _EXHAUSTIVE + _RANKED, _ONE_SIDE.format(**_side("lexical"))]
    else:
        lexical = _LEXICAL + _RAREST_ONLY + _RANKED
        ctes = [dense, lexical, _RRF if plan.fusion == "rrf" else _WEIGHTED]
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    # `::type` casts are not placeholders: only a colon after a space or a bracket is.
    sql = "WITH" + ",".join(ctes) + _SELECT.format(column=column, max_rank=MAX_RANK)
    sql = re.sub(r"(?<=[\s(,*-]):([a-z_]+)\b", number, sql)
    return sql, tuple(names)


def _side(side: str) -> dict[str, str]:
    none = "NULL::int"
    return {
        "side": side,
        "dense": "rank" if side == "dense" else none,
        "dense_score": "score" if side == "dense" else "NULL::float8",
        "lexical": "rank" if side == "lexical" else none,
        "lexical_score": "score" if side == "lexical" else "NULL::float8",
    }

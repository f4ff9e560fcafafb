"""The lexical side's statistics, kept by Postgres itself: how many of a tenant's chunks hold
each lexeme (its document frequency), and how many chunks the tenant has and their total
length (the row of the empty lexeme, which no real lexeme is).

BM25 needs both for every query term. Counting them as each query runs (a GIN scan per
term, then the heap, and a count of the tenant's chunks) grows with the corpus and was
most of the lexical side's time; read here they are one index probe per term. Statement
triggers on `pillars_chunks` keep them in step with every insert and delete, in the same
transaction, whoever writes: a chunk is never counted without being searchable, nor
searchable without being counted. A tenant's counts are updated under a transaction lock
of that tenant, so two writers of one tenant take turns (never a deadlock between them)
and writers of different tenants do not wait for each other. An index built before the
lexicon gets its counts when the triggers are created, under the table's lock.
"""

from __future__ import annotations

__all__ = ["LEXICON", "lexicon_ddl"]

LEXICON = "pillars_lexicon"

# Every lexeme of each chunk of `rows` (a transition table or a subquery with `tenant` and
# `lexemes`), and the empty one once per chunk, with the sum of the chunks' lengths (their
# distinct lexemes: BM25's document length, whose mean the tenant's row gives).
_LEXEMES = """SELECT tenant, lexeme, count(*) AS chunks,
               sum(CASE WHEN lexeme = '' THEN length(lexemes) ELSE 0 END) AS lengths
        FROM {rows}, unnest(array_append(tsvector_to_array(lexemes), '')) AS lexeme
        GROUP BY tenant, lexeme"""
# The chunks an UPDATE gave other lexemes (their text or configuration changed), before
# and after: an update of anything else (a vector set by the backfill) counts nothing.
_CHANGED = """(SELECT {side}.tenant, {side}.lexemes FROM removed JOIN added USING (chunk_id)
        WHERE removed.lexemes IS DISTINCT FROM added.lexemes
           OR removed.tenant IS DISTINCT FROM added.tenant) AS {side}_changed"""


def _lock(rows: str) -> str:
    """Take the lexicon lock of each tenant of `rows`, in order."""
    return f"""PERFORM pg_advisory_xact_lock(hashtext('pillars.lexicon.' || tenant))
        FROM (SELECT DISTINCT tenant FROM {rows} ORDER BY tenant) AS tenants;"""


def _add(rows: str) -> str:
    """Count the chunks of `rows` in."""
    return f"""INSERT INTO {LEXICON} AS x (tenant, lexeme, chunks, lengths)
        {_LEXEMES.format(rows=rows)} ORDER BY tenant, lexeme
        ON CONFLICT (tenant, lexeme) DO UPDATE
        SET chunks = x.chunks + excluded.chunks, lengths = x.lengths + excluded.lengths;"""


def _remove(rows: str) -> str:
    """Count the chunks of `rows` out; a lexeme no chunk holds any more goes."""
    return f"""UPDATE {LEXICON} AS x
        SET chunks = x.chunks - r.chunks, lengths = x.lengths - r.lengths
        FROM ({_LEXEMES.format(rows=rows)}) AS r
        WHERE x.tenant = r.tenant AND x.lexeme = r.lexeme;
        DELETE FROM {LEXICON} AS x
        USING ({_LEXEMES.format(rows=rows)}) AS r
        WHERE x.tenant = r.tenant AND x.lexeme = r.lexeme AND x.chunks <= 0;"""


def _trigger(name: str, event: str, tables: str, body: str) -> str:
    """The function `name` running `body`, and its statement trigger (created once)."""
    return f"""
    CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
        {body}
        RETURN NULL;
    END $f$;
    DO $d$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgname = '{name}') THEN
            CREATE TRIGGER {name} AFTER {event} ON pillars_chunks REFERENCING {tables}
                FOR EACH STATEMENT EXECUTE FUNCTION {name}();
        END IF;
    END $d$;"""


def lexicon_ddl() -> str:
    """Return the DDL of the lexicon table and the triggers that keep it, idempotently.

    Its counts are taken from the chunks when the table is created, under a lock that
    holds the chunks' writers back until the triggers exist (all in the schema's
    transaction): an index built before the lexicon starts out counted.
    """
    old = _CHANGED.format(side="removed")
    new = _CHANGED.format(side="added")
    return f"""
    DO $d$ BEGIN
        IF to_regclass('{LEXICON}') IS NULL THEN
            LOCK TABLE pillars_chunks IN SHARE ROW EXCLUSIVE MODE;
            CREATE TABLE {LEXICON} (
                tenant text NOT NULL,
                lexeme text NOT NULL,
                chunks bigint NOT NULL,
                lengths bigint NOT NULL,
                PRIMARY KEY (tenant, lexeme)
            );
            INSERT INTO {LEXICON} (tenant, lexeme, chunks, lengths)
            {_LEXEMES.format(rows="pillars_chunks")};
        END IF;
    END $d$;
    {
        _trigger(
            "pillars_lexicon_added", "INSERT", "NEW TABLE AS added", _lock("added") + _add("added")
        )
    }
    {
        _trigger(
            "pillars_lexicon_removed",
            "DELETE",
            "OLD TABLE AS removed",
            _lock("removed") + _remove("removed"),
        )
    }
    {
        _trigger(
            "pillars_lexicon_changed",
            "UPDATE",
            "OLD TABLE AS removed NEW TABLE AS added",
            _lock(old) + _remove(old) + _add(new),
        )
    }"""

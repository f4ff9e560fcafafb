"""Row-level security is a second wall: a service's query that forgets its tenant filter
sees no other tenant's rows, on every tenant-keyed table, on the real Postgres.

The rows are written through the real adapters, each on a pool that runs as the service
that writes them; the unfiltered queries then run as each role that may read the table.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from services.embedding.adapters.pgvector_store import PgChunkStore
from services.evaluator.adapters.pg_score_book import PgScoreBook
from services.evaluator.adapters.pg_score_tables import TENANT_TABLES
from services.evaluator.ports import OutcomeRecord, PredictionScore
from services.feedback.adapters.pg_ledger import PgPredictionLedger
from services.feedback.adapters.pg_park import PgFeedbackPark
from services.feedback.ports import KnownPrediction
from services.inference.adapters.pg_answers import PgAnswerLedger
from shared.contracts.events import Chunk, DocumentChunked, Feedback
from shared.kit.db import create_pool
from shared.kit.db_tenancy import (
    CROSS_TENANT,
    all_tenants_transaction,
    role_of,
    tenant_transaction,
)
from shared.labels import PgLabelStore
from shared.labels.snapshot import LabelRow
from shared.models.pg_registry import PgModelRegistry
from shared.platform.runtime.stack import Endpoints
from tests.unit.evaluator.test_handlers import prediction

pytestmark = pytest.mark.security

DIM = 384  # the session shares the index table with the real service
# Every tenant-keyed table, and the services whose roles may read it.
READERS = {
    "pillars_documents": ("embedding",),
    "pillars_chunks": ("embedding", "inference"),
    "pillars_lexicon": ("embedding", "inference"),  # kept by the chunks' triggers
    "feedback_predictions": ("feedback",),
    "feedback_parked": ("feedback",),
    "inference_answers": ("inference",),
    "training_labels": ("feedback", "evaluator", "trainer"),
    **dict.fromkeys(TENANT_TABLES, ("evaluator",)),
}


@pytest.fixture
async def pools(endpoints: Endpoints) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    services = ("embedding", "inference", "feedback", "evaluator", "trainer", "ingestion")
    opened = {s: await create_pool(endpoints.database_url, service=s) for s in services}
    try:
        yield opened
    finally:
        for pool in opened.values():
            await pool.close()


async def write_rows(pools: dict[str, asyncpg.Pool], tenant: str) -> None:
    """Write one row of `tenant` into every tenant-keyed table, each as its writer."""
    now = datetime.now(UTC)
    chunk = Chunk(chunk_id=uuid.uuid4(), index=0, text="private to " + tenant)
    doc = DocumentChunked(
        tenant=tenant, document_id="d", version=1, chunks=[chunk], source_occurred_at=now
    )
    store = PgChunkStore(pools["embedding"])
    await store.apply_version(doc, {chunk.chunk_id: [1.0] + [0.0] * (DIM - 1)})
    ledger = PgPredictionLedger(pools["feedback"])
    await ledger.remember(
        KnownPrediction(tenant, "r1", tenant, "a", "answer", now, None, review_reason="sampled")
    )
    await PgFeedbackPark(pools["feedback"]).park(
        Feedback(tenant=tenant, feedback_id="f1", request_id="r2", kind="click")
    )
    labels = PgLabelStore(pools["feedback"])
    await labels.record(
        LabelRow(tenant=tenant, dataset="d", request_id="r1", text="t", label="x", labelled_at=now)
    )
    book = PgScoreBook(pools["evaluator"])
    score = PredictionScore(tenant, "r1", tenant, "a", 0.5, 0.5, occurred_at=now)
    await book.record(score)
    await book.record_shadow(PredictionScore(tenant, "r1", tenant, "b", 0.5, 0.5, occurred_at=now))
    await book.record_outcome(
        OutcomeRecord(tenant, "f1", "r1", tenant, "a", "label", None, "x", None, now)
    )
    await book.record_query(tenant, "r1", tenant, now, [1.0] + [0.0] * (DIM - 1))
    answered = prediction("r1", [0.5]).model_copy(update={"tenant": tenant})
    await PgAnswerLedger(pools["inference"]).keep(answered)


async def test_an_unfiltered_query_sees_only_the_declared_tenant_on_every_table(
    pool: asyncpg.Pool, pools: dict[str, asyncpg.Pool]
) -> None:
    await PgChunkStore(pool).create_schema(DIM, 16, 64)
    for schema in (
        PgPredictionLedger(pool),
        PgFeedbackPark(pool),
        PgLabelStore(pool),
        PgScoreBook(pool),
        PgAnswerLedger(pool),
    ):
        await schema.create_schema()
    mine, theirs = f"rls{uuid.uuid4().hex[:8]}a", f"rls{uuid.uuid4().hex[:8]}b"
    await write_rows(pools, mine)
    await write_rows(pools, theirs)
    ours = [mine, theirs]
    keyed = await pool.fetch(
        "SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_attribute a "
        "ON a.attrelid = c.oid AND a.attname = 'tenant' AND NOT a.attisdropped "
        "WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
    )  # every table with a tenant column the services made: all checked below, all guarded
    assert {r["relname"] for r in keyed} == set(READERS)
    assert all(r["relrowsecurity"] for r in keyed)
    for table, readers in READERS.items():
        # the owner (the login user) sees both: the rows are there to be leaked
        both = await pool.fetch(f"SELECT DISTINCT tenant FROM {table} WHERE tenant = ANY($1)", ours)
        assert {r["tenant"] for r in both} == {mine, theirs}, table
        for service in readers:
            role = pools[service]
            assert await role.fetchval("SELECT current_user") == role_of(service)
            async with tenant_transaction(role, mine) as conn:
                seen = {r["tenant"] for r in await conn.fetch(f"SELECT tenant FROM {table}")}
            assert seen == {mine}, (table, service)
            # no tenant declared: nothing at all
            assert await role.fetchval(f"SELECT count(*) FROM {table}") == 0, (table, service)
            async with all_tenants_transaction(role) as conn:
                every = {r["tenant"] for r in await conn.fetch(f"SELECT tenant FROM {table}")}
            if service in CROSS_TENANT:  # explicit, and only for these
                assert {mine, theirs} <= every, (table, service)
            else:
                assert every == set(), (table, service)


async def test_a_service_cannot_write_another_tenants_row_nor_outside_its_grants(
    pool: asyncpg.Pool, pools: dict[str, asyncpg.Pool]
) -> None:
    await PgPredictionLedger(pool).create_schema()
    await PgScoreBook(pool).create_schema()
    await PgModelRegistry(pool).create_schema()
    mine, theirs = f"rls{uuid.uuid4().hex[:8]}a", f"rls{uuid.uuid4().hex[:8]}b"
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with tenant_transaction(pools["feedback"], mine) as conn:
            await conn.execute(
                "INSERT INTO feedback_predictions (tenant, request_id, experiment, variant, "
                "answer, occurred_at) VALUES ($1, 'r', 'e', 'a', 'x', now())",
                theirs,
            )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        async with tenant_transaction(pools["inference"], mine) as conn:
            await conn.execute("DELETE FROM pillars_chunks")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        async with tenant_transaction(pools["feedback"], mine) as conn:
            await conn.fetch("SELECT * FROM evaluator_scores")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await pools["ingestion"].fetch("SELECT * FROM inference_models")

"""Tenant isolation in Postgres as a second wall behind each query's `WHERE tenant = ...`.

Every tenant-keyed table has row-level security on, with one policy: a row is visible
(and may be written) only when its `tenant` is the one the transaction declared with
`set_config('pillars.tenant', tenant, true)`; a query that forgets its filter, or runs in
a transaction that declared no tenant, sees no rows at all. Services run their queries as
their own roles (`pillars_<service>`, taken with `SET ROLE` on each pooled connection),
which own nothing, so the policy binds them; the login user of `PILLARS_DATABASE_URL`
owns the tables, creates them and the roles, and is not subject to the policy (no
`FORCE ROW LEVEL SECURITY`: the owner is the migration and operator identity, and the
`pillars` CLI reads through it).

Crossing tenants is explicit twice over: the transaction declares `ALL_TENANTS` and the
role is a member of `pillars_all_tenants`, which only the readers in `CROSS_TENANT` are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import asyncpg

__all__ = [
    "ALL_TENANTS",
    "ALL_TENANTS_ROLE",
    "CROSS_TENANT",
    "SERVICES",
    "all_tenants_transaction",
    "grants_ddl",
    "role_of",
    "roles_ddl",
    "tenant_policy_ddl",
    "tenant_transaction",
]

SERVICES = ("ingestion", "embedding", "inference", "evaluator", "feedback", "scaler", "trainer")
ALL_TENANTS = "*"  # never a tenant: tenant ids are lower-case slugs
ALL_TENANTS_ROLE = "pillars_all_tenants"
# Who may read across tenants, and why; no one else can, whatever their queries say.
CROSS_TENANT = {
    "evaluator": "A/B statistics, drift and category counts are per experiment, over tenants",
    "feedback": "the review queue is the platform reviewers', across tenants",
}
_VISIBLE = (
    "tenant = current_setting('pillars.tenant', true) OR "
    f"(current_setting('pillars.tenant', true) = '{ALL_TENANTS}' "
    f"AND pg_has_role('{ALL_TENANTS_ROLE}', 'MEMBER'))"
)


def role_of(service: str) -> str:
    """Return the database role `service` runs its queries as."""
    if service not in SERVICES:
        raise ValueError(f"no database role for {service!r}; services: {', '.join(SERVICES)}")
    return f"pillars_{service}"


def roles_ddl() -> str:
    """Return DDL creating every service role and the cross-tenant group, idempotently.

    The roles cannot log in: the login user takes them with `SET ROLE`, so it is made a
    member of each (a superuser is already).
    """
    names = ", ".join(f"'{n}'" for n in (*(role_of(s) for s in SERVICES), ALL_TENANTS_ROLE))
    readers = ", ".join(f"'{role_of(s)}'" for s in sorted(CROSS_TENANT))
    # Before Postgres 16 membership is what lets a user SET ROLE; from 16 it is 'SET'.
    may_set = (
        "CASE WHEN current_setting('server_version_num')::int >= 160000 "
        "THEN 'SET' ELSE 'MEMBER' END"
    )
    return f"""
DO $d$ DECLARE name text; BEGIN
    FOREACH name IN ARRAY ARRAY[{names}] LOOP
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- made meanwhile
        END;
        IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
           AND NOT pg_has_role(current_user, name, {may_set}) THEN
            EXECUTE format('GRANT %I TO %I', name, current_user);
        END IF;
    END LOOP;
    FOREACH name IN ARRAY ARRAY[{readers}] LOOP
        IF NOT pg_has_role(name, '{ALL_TENANTS_ROLE}', 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', '{ALL_TENANTS_ROLE}', name);
        END IF;
    END LOOP;
END $d$;
"""


def tenant_policy_ddl(*tables: str) -> str:
    """Return DDL turning row-level security on for `tables`, each keyed by `tenant`.

    Idempotent without taking the table's lock again once done, so a replica starting
    does not stall the queries of those running.
    """
    steps = []
    for table in tables:
        steps.append(f"""
DO $d$ BEGIN
    IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = '{table}'::regclass) THEN
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_policies WHERE tablename = '{table}'
                   AND policyname = 'pillars_tenant') THEN
        CREATE POLICY pillars_tenant ON {table} USING ({_VISIBLE});
    END IF;
END $d$;""")
    return "\n".join(steps)


def grants_ddl(privileges: str, tables: Iterable[str], services: Iterable[str]) -> str:
    """Return `GRANT privileges ON tables TO` the services' roles (and their sequences')."""
    roles = ", ".join(role_of(s) for s in services)
    return f"GRANT {privileges} ON {', '.join(tables)} TO {roles};"


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool | asyncpg.Connection, tenant: str, **settings: str
) -> AsyncIterator[asyncpg.Connection]:
    """Hold a transaction that sees and writes only `tenant`'s rows (with `settings`, e.g.
    HNSW's, set for it in the same round trip)."""
    if not tenant or tenant == ALL_TENANTS:
        raise ValueError(f"not a tenant: {tenant!r}")
    async with _transaction(pool, tenant, settings) as conn:
        yield conn


@asynccontextmanager
async def all_tenants_transaction(
    pool: asyncpg.Pool | asyncpg.Connection,
) -> AsyncIterator[asyncpg.Connection]:
    """Hold a transaction that sees every tenant's rows, for a role in `CROSS_TENANT`
    (any other role sees none)."""
    async with _transaction(pool, ALL_TENANTS, {}) as conn:
        yield conn


@asynccontextmanager
async def _transaction(
    pool: asyncpg.Pool | asyncpg.Connection, tenant: str, settings: dict[str, str]
) -> AsyncIterator[asyncpg.Connection]:
    names = ["pillars.tenant", *settings]
    calls = ", ".join(f"set_config('{n}', ${i}, true)" for i, n in enumerate(names, 1))
    if isinstance(pool, asyncpg.Connection):
        async with pool.transaction():
            await pool.execute(f"SELECT {calls}", tenant, *settings.values())
            yield pool
        return
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"SELECT {calls}", tenant, *settings.values())
        yield conn

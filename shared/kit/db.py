"""Postgres connection pools with the pgvector codec registered."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Protocol, TypeVar

import asyncpg
from pgvector.asyncpg import register_vector

from shared.kit.db_tenancy import role_of, roles_ddl

__all__ = ["PostgresAdapters", "apply_schema", "create_pool", "open_pool"]


def _connection_init(role: str | None) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    async def init(conn: asyncpg.Connection) -> None:
        await register_vector(conn)
        if role is not None:  # the service's queries run under row-level security
            await conn.execute(f"SET ROLE {role}")

    return init


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Reset nothing when a connection returns to the pool, beyond asyncpg's own rollback
    of a transaction left open.

    pillars keeps no session state beyond the service's role, taken once per connection:
    its settings (the tenant included) are transaction-local (`set_config(...,
    true)`), its advisory locks transaction-scoped, and it neither listens nor keeps
    cursors. asyncpg's default reset (`SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`) was one more round trip to Postgres for every query a
    service ran through the pool.
    """
    del conn


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 4, service: str | None = None
) -> asyncpg.Pool:
    """Open a pool to `dsn`, creating the `vector` extension first so its codec can register.

    With `service`, the service roles are created too and every pooled connection runs as
    `service`'s (see `shared.kit.db_tenancy`); without, as the login user (the owner).
    """
    role = None if service is None else role_of(service)
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"cannot connect to Postgres at {_redact(dsn)}: {exc}. Is it running? "
            "Check PILLARS_DATABASE_URL, or start the platform with `pillars up`."
        ) from exc
    try:
        await _prepare(conn, dsn, role)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_connection_init(role),
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _prepare(conn: asyncpg.Connection, dsn: str, role: str | None) -> None:
    """Create the `vector` extension, and with a `role` the service roles."""
    with contextlib.suppress(asyncpg.UniqueViolationError):  # made by another at once
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    if role is not None:  # its connections take the role as they open
        await _create_roles(conn, _redact(dsn))


async def _create_roles(conn: asyncpg.Connection, where: str) -> None:
    """Create the service roles if they are missing, one creator at a time."""
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE NONE")  # the login user's, even on a pool's
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pillars.roles'))")
            await conn.execute(roles_ddl())
    except asyncpg.InsufficientPrivilegeError as exc:
        raise RuntimeError(
            f"cannot create the service roles at {where}: {exc}. Give the user of "
            "PILLARS_DATABASE_URL CREATEROLE, or create the roles as README's "
            "'Tenant isolation in Postgres' says."
        ) from exc


@asynccontextmanager
async def open_pool(
    dsn: str, *, max_size: int = 4, service: str | None = None
) -> AsyncIterator[asyncpg.Pool]:
    """Hold a pool to `dsn` (see `create_pool`) for the block, then close it."""
    pool = await create_pool(dsn, max_size=max_size, service=service)
    try:
        yield pool
    finally:
        await pool.close()


def _redact(dsn: str) -> str:
    scheme, sep, rest = dsn.partition("://")
    if "@" not in rest:
        return dsn
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


async def apply_schema(pool: asyncpg.Pool, owner: str, ddl: str) -> None:
    """Run `owner`'s idempotent DDL once at a time, so replicas starting together don't race.

    It runs as the login user, which owns the tables, even on a service's pool; the roles
    its grants name are created first.
    """
    async with pool.acquire() as conn:
        await _create_roles(conn, "PILLARS_DATABASE_URL")
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE NONE")
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"pillars.schema.{owner}"
            )
            await conn.execute(ddl)


class _WithSchema(Protocol):
    async def create_schema(self) -> None: ...


P = TypeVar("P")
A = TypeVar("A", bound=_WithSchema)


class PostgresAdapters:
    """What a bootstrap builds on Postgres: each adapter a test did not give is built on one
    pool, opened (within `stack`) only when the first one needs it, its schema created."""

    def __init__(
        self, stack: AsyncExitStack, dsn: Callable[[], str], *, service: str | None = None
    ) -> None:
        self._stack = stack
        self._dsn = dsn
        self._service = service
        self._pool: asyncpg.Pool | None = None

    async def pool(self) -> asyncpg.Pool:
        """Return the pool, opening it the first time."""
        if self._pool is None:
            self._pool = await self._stack.enter_async_context(
                open_pool(self._dsn(), service=self._service)
            )
        return self._pool

    async def built(self, given: P | None, build: Callable[[asyncpg.Pool], A]) -> P | A:
        """Return `given` (a test's), else `build(pool)` with its schema created."""
        if given is not None:
            return given
        adapter = build(await self.pool())
        await adapter.create_schema()
        return adapter

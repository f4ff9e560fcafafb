"""Leadership through a Postgres advisory lock: one evaluator replica reports at a time."""

from __future__ import annotations

import asyncio

import asyncpg

__all__ = ["REPORTS_LOCK", "PgLeadership"]

REPORTS_LOCK = "pillars.evaluator.reports"


class PgLeadership:
    """Leadership held as a session advisory lock on a connection of its own.

    The connection is taken from the pool at the first `leading()` and kept, since the lock
    lives as long as the session does; once the lock is held it is kept until `release()`.
    """

    def __init__(self, pool: asyncpg.Pool, lock: str = REPORTS_LOCK) -> None:
        self._pool = pool
        self._lock = lock
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._held = False
        # The report and loop rounds ask at once: one question at a time on the connection.
        self._asking = asyncio.Lock()

    async def leading(self) -> bool:
        """Return whether this replica holds the lock, trying to take it if not yet."""
        if self._held:
            return True
        async with self._asking:
            if self._held:
                return True
            if self._conn is None:
                self._conn = await self._pool.acquire()
            self._held = bool(
                await self._conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self._lock)
            )
            return self._held

    async def release(self) -> None:
        """Give the lock up and return the connection to the pool (at shutdown)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # The pool does not reset sessions (shared.kit.db), so unlock before handing it back.
            if self._held:
                await conn.fetchval("SELECT pg_advisory_unlock(hashtext($1))", self._lock)
        finally:
            self._held = False
            await self._pool.release(conn)

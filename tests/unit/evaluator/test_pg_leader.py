"""Leadership by advisory lock: tried until held, then kept; given up at release."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.evaluator.adapters.pg_leader import REPORTS_LOCK, PgLeadership


@dataclass
class Session:
    """A connection whose lock another replica holds for the first `busy` tries."""

    busy: int
    statements: list[str] = field(default_factory=list)

    async def fetchval(self, sql: str, *args: Any) -> bool:
        assert args == (REPORTS_LOCK,)
        self.statements.append(sql.split("(")[0].removeprefix("SELECT "))
        if "try" in sql:
            self.busy -= 1
            return self.busy < 0
        return True


@dataclass
class Pool:
    session: Session
    acquired: int = 0
    released: list[Session] = field(default_factory=list)

    async def acquire(self) -> Session:
        self.acquired += 1
        return self.session

    async def release(self, conn: Session) -> None:
        self.released.append(conn)


async def test_the_lock_is_tried_on_one_connection_until_held_then_kept() -> None:
    pool = Pool(Session(busy=1))
    leadership = PgLeadership(pool)

    assert [await leadership.leading() for _ in range(4)] == [False, True, True, True]

    assert pool.acquired == 1
    assert pool.session.statements == ["pg_try_advisory_lock", "pg_try_advisory_lock"]
    await leadership.release()
    assert pool.session.statements[-1] == "pg_advisory_unlock"
    assert pool.released == [pool.session]


async def test_a_replica_that_never_asked_releases_nothing() -> None:
    pool = Pool(Session(busy=0))
    await PgLeadership(pool).release()
    assert (pool.acquired, pool.released) == (0, [])


async def test_a_follower_returns_its_connection_without_unlocking() -> None:
    pool = Pool(Session(busy=5))
    leadership = PgLeadership(pool)
    assert not await leadership.leading()
    await leadership.release()
    assert pool.session.statements == ["pg_try_advisory_lock"]
    assert pool.released == [pool.session]


@dataclass
class OneAtATime(Session):
    """A connection that, like asyncpg's, refuses a second statement while one runs."""

    running: bool = False

    async def fetchval(self, sql: str, *args: Any) -> bool:
        assert not self.running, "another operation is in progress"
        self.running = True
        try:
            await asyncio.sleep(0.01)
            return await super().fetchval(sql, *args)
        finally:
            self.running = False


async def test_rounds_asking_at_once_share_the_connection_one_question_at_a_time() -> None:
    pool = Pool(OneAtATime(busy=5))
    leadership = PgLeadership(pool)
    answers = await asyncio.gather(*(leadership.leading() for _ in range(3)))
    assert answers == [False, False, False]
    assert pool.acquired == 1

"""Remembered experiment assignments on the real Postgres."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from services.ingestion.adapters.pg_assignments import PgAssignments


async def test_a_unit_keeps_its_live_arm_and_moves_only_when_it_is_gone(
    pool: asyncpg.Pool,
) -> None:
    await PgAssignments(pool).create_schema()
    experiment = f"exp-{uuid.uuid4().hex[:8]}"

    class Replicas:
        """Each call from a new replica: what one remembers, the table must tell the next."""

        async def remember(self, *args: object) -> str:
            return await PgAssignments(pool).remember(*args)  # type: ignore[arg-type]

    book = Replicas()
    assert await book.remember(experiment, "u1", "a", ["a", "b"]) == "a"
    # The weights changed and the hash now proposes b: the remembered a stays.
    assert await book.remember(experiment, "u1", "b", ["a", "b"]) == "a"
    # Arm a was removed: the unit takes the proposed arm, and keeps that one from then on.
    assert await book.remember(experiment, "u1", "b", ["b", "c"]) == "b"
    assert await book.remember(experiment, "u1", "c", ["b", "c"]) == "b"
    # Another experiment remembers separately.
    assert await book.remember(f"{experiment}-2", "u1", "c", ["b", "c"]) == "c"


async def test_concurrent_first_visits_agree_on_one_arm(pool: asyncpg.Pool) -> None:
    await PgAssignments(pool).create_schema()
    experiment = f"exp-{uuid.uuid4().hex[:8]}"
    # Two replicas see the same new user at once, proposing different arms (a weight
    # change between them): both must answer with the one arm that was stored.
    arms = await asyncio.gather(
        *(PgAssignments(pool).remember(experiment, "u1", arm, ["a", "b"]) for arm in ("a", "b") * 4)
    )
    stored = await pool.fetchval(
        "SELECT variant FROM experiment_assignments WHERE experiment = $1 AND unit = 'u1'",
        experiment,
    )
    assert set(arms) == {stored}


async def test_a_replica_remembers_what_it_read_without_asking_again(pool: asyncpg.Pool) -> None:
    book = PgAssignments(pool)
    await book.create_schema()
    experiment = f"exp-{uuid.uuid4().hex[:8]}"
    assert await book.remember(experiment, "u1", "a", ["a", "b"]) == "a"
    await pool.execute("DELETE FROM experiment_assignments WHERE experiment = $1", experiment)
    assert await book.remember(experiment, "u1", "b", ["a", "b"]) == "a"  # from memory
    # Its arm is gone: the table decides again (and the row is back).
    assert await book.remember(experiment, "u1", "b", ["b"]) == "b"
    assert (
        await pool.fetchval(
            "SELECT variant FROM experiment_assignments WHERE experiment = $1", experiment
        )
        == "b"
    )

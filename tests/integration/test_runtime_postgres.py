"""The embedded Postgres: pgvector over TCP, data kept across restarts and a killed server."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import asyncpg
import psutil
import pytest

from shared.platform.runtime.keeper import InfrastructureKeeper
from shared.platform.runtime.postgres import EmbeddedPostgres

pytestmark = pytest.mark.integration


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])


async def test_pgvector_over_tcp_and_data_kept_across_restart(tmp_path: Path) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pg")
    try:
        url = postgres.start()
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        assert url.endswith("/pillars")
        conn = await asyncpg.connect(url)
        try:
            distance = await conn.fetchval("SELECT '[1,2,3]'::vector <=> '[1,2,4]'::vector")
            assert distance == pytest.approx(1 - 17 / (14**0.5 * 21**0.5))
            await conn.execute("CREATE TABLE kept (id int PRIMARY KEY, embedding vector(3))")
            await conn.execute("INSERT INTO kept VALUES (1, '[1,2,3]')")
        finally:
            await conn.close()

        postgres.stop()
        assert postgres.start() == url
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM kept") == 1
        finally:
            await conn.close()
    finally:
        postgres.stop()


async def test_start_after_a_killed_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    first = EmbeddedPostgres(data_dir)
    url = first.start()
    pid = postmaster_pid(data_dir)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)

    second = EmbeddedPostgres(data_dir)
    try:
        assert second.start() == url
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            )
        finally:
            await conn.close()
    finally:
        second.stop()
        first.stop()  # its server is gone: a no-op but for the atexit hook


async def test_start_stops_a_server_left_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    left_behind = EmbeddedPostgres(data_dir)
    left_behind.start()  # not stopped, as when `pillars up` is SIGKILLed
    left = postmaster_pid(data_dir)
    postgres = EmbeddedPostgres(data_dir)
    try:
        url = postgres.start()
        assert postmaster_pid(data_dir) != left
        assert not psutil.pid_exists(left) or psutil.Process(left).status() == psutil.STATUS_ZOMBIE
        conn = await asyncpg.connect(url)
        await conn.close()
    finally:
        postgres.stop()
        left_behind.stop()


async def test_the_keeper_restarts_a_killed_postmaster_through_crash_recovery(
    tmp_path: Path,
) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pg")
    keeper = InfrastructureKeeper({"Postgres": postgres}, backoff_s=0.5)
    try:
        url = postgres.start()
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE kept (id int PRIMARY KEY)")
            await conn.execute("INSERT INTO kept VALUES (1)")  # committed: survives the crash
        finally:
            await conn.close()
        assert postgres.running
        assert keeper.check() == []
        os.kill(postmaster_pid(tmp_path / "pg"), signal.SIGKILL)
        deadline = time.monotonic() + 60
        restarted = []
        while not restarted:
            assert time.monotonic() < deadline, "the keeper did not bring Postgres back"
            restarted = await asyncio.to_thread(keeper.check)
            await asyncio.sleep(0.2)
        assert postgres.running
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM kept") == 1
        finally:
            await conn.close()
    finally:
        postgres.stop()

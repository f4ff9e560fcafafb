"""Experiments changed at run time, on the real broker and database: a version written to
Postgres and announced on the `experiments` topic reaches two ingestion and two inference
replicas within seconds, without a restart, and the next request is assigned under it;
`pillars experiment promote`, `rollback` and `set` do the same through the command line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from faststream import FastStream
from opentelemetry.sdk.trace import TracerProvider

from services.inference.app import create_app as inference_app
from services.inference.bootstrap import bootstrap as inference_bootstrap
from services.inference.config import InferenceSettings
from services.inference.solutions import load_solutions
from services.ingestion.app import create_app as ingestion_app
from services.ingestion.bootstrap import bootstrap as ingestion_bootstrap
from services.ingestion.config import IngestionSettings
from shared.contracts.events import InferenceRequest, RequestAccepted
from shared.contracts.topics import Topic
from shared.experiment_store import LiveExperiment, PgExperimentStore
from shared.experiments import Arm, Experiment
from shared.kit.topic_admin import ensure_topics
from shared.platform.cli import main
from shared.platform.client import PillarsClient, Watch
from shared.platform.runtime.stack import Endpoints

pytestmark = pytest.mark.loop

# Every replica must have the new version in force this long after the announcement is
# published (measured: 5-20 ms on the session's local broker).
SWITCH_BOUND_S = 10.0


def recorded(
    build: Callable[[], AbstractAsyncContextManager[Any]], lives: list[LiveExperiment]
) -> Callable[[], AbstractAsyncContextManager[Any]]:
    """The bootstrap `build`, noting the replica's live experiment for the test to read."""

    @asynccontextmanager
    async def assemble() -> AsyncIterator[Any]:
        async with build() as deps:
            lives.append(deps.experiment)
            yield deps

    return assemble


async def switched(lives: list[LiveExperiment], version: int, since: float) -> list[float]:
    """Return, per replica, the seconds from `since` until it had `version` in force."""
    started = since
    seen: dict[int, float] = {}
    while len(seen) < len(lives):
        for i, live in enumerate(lives):
            if i not in seen and live.version >= version:
                seen[i] = time.perf_counter() - started
        if time.perf_counter() - started > SWITCH_BOUND_S:
            raise AssertionError(f"replicas {set(range(len(lives))) - set(seen)} never switched")
        await asyncio.sleep(0.005)
    return [seen[i] for i in range(len(lives))]


async def accepted_for(
    client: PillarsClient, watch: Watch, tenant: str, *users: str
) -> dict[str, RequestAccepted]:
    """Publish a request for each user and return what ingestion accepted, by user."""
    ids = {f"r-{user}-{time.monotonic_ns()}": user for user in users}
    for request_id, user in ids.items():
        request = InferenceRequest(tenant=tenant, request_id=request_id, query="q", user_id=user)
        await client.publish(Topic.REQUESTS, request)
    events = await watch.collect(
        lambda got: {e.request_id for e in got if isinstance(e, RequestAccepted)} >= set(ids),
        timeout_s=30,
    )
    return {
        ids[e.request_id]: e
        for e in events
        if isinstance(e, RequestAccepted) and e.request_id in ids
    }


async def test_a_change_reaches_every_replica_and_the_next_request(
    endpoints: Endpoints,
    tenant: str,
    pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    bootstrap = endpoints.kafka_bootstrap_servers
    await ensure_topics(bootstrap, tenant, partitions=3)
    name = f"{tenant}-depth"  # an experiment of its own: the database is shared
    seed = Experiment(
        name=name, salt=tenant, arms=(Arm(name="a", top_k=3), Arm(name="b", weight=0, top_k=5))
    )
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "database_url": endpoints.database_url,
        "topic_prefix": tenant,
        "experiment": seed,
    }
    ingestion, inference = IngestionSettings(**common), InferenceSettings(**common)
    lives: list[LiveExperiment] = []
    apps: list[FastStream] = []
    for _ in range(2):
        build = partial(ingestion_bootstrap, ingestion)
        apps.append(ingestion_app(ingestion, assemble=recorded(build, lives)))
    solutions = load_solutions(inference.solutions_dir)
    for _ in range(2):
        build = partial(
            inference_bootstrap, inference, solutions=solutions, tracer=TracerProvider()
        )
        apps.append(inference_app(inference, assemble=recorded(build, lives)))

    async with (
        AsyncExitStack() as running,
        PillarsClient(bootstrap, prefix=tenant, source="/tests") as client,
    ):
        for app in apps:  # what `app.run()` does, without the signals
            await running.enter_async_context(app.lifespan_context())
            await app.start()
            running.push_async_callback(app.stop)
        assert [live.version for live in lives] == [1, 1, 1, 1]  # all seeded the one v1
        # A broadcast consumer starts from the end once its offset is looked up, just
        # after it joins; an announcement before that is caught up from the store instead.
        await asyncio.sleep(1.0)
        watch = await client.watch(Topic.REQUESTS_ACCEPTED)
        before = await accepted_for(client, watch, tenant, "u1")
        assert (before["u1"].variant, before["u1"].top_k) == ("a", 3)

        # Through the store and the topic, as the evaluator's loop does.
        store = PgExperimentStore(pool)
        moved = Experiment(
            name=name,
            salt=tenant,
            arms=(Arm(name="a", weight=0, top_k=3), Arm(name="b", top_k=5, model_version=2)),
        )
        written = await store.write(moved, reason="deeper retrieval", actor="test")
        assert written.version == 2
        announced = time.perf_counter()
        await client.publish(Topic.EXPERIMENTS, written.announcement())
        seconds = await switched(lives, 2, since=announced)
        assert [live.current for live in lives] == [moved] * 4
        after = await accepted_for(client, watch, tenant, "u1", "u2")
        for user in ("u1", "u2"):  # u1's arm a weighs 0 now: u1 moves too
            assert (after[user].variant, after[user].model_version) == ("b", 2)
            assert (after[user].experiment, after[user].top_k) == (name, 5)

        # Through the command line: promote a, roll back to v2, set a file.
        monkeypatch.setenv("PILLARS_KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        monkeypatch.setenv("PILLARS_DATABASE_URL", endpoints.database_url)
        monkeypatch.setenv("PILLARS_TOPIC_PREFIX", tenant)
        pillars = partial(asyncio.to_thread, main)
        started = time.perf_counter()
        assert await pillars(["experiment", "promote", "a", "--experiment", name]) == 0
        cli_seconds = await switched(lives, 3, since=started)
        assert [[arm.weight for arm in live.current.arms] for live in lives] == [[1, 0]] * 4
        promoted = await accepted_for(client, watch, tenant, "u1")
        assert promoted["u1"].variant == "a"
        assert await pillars(["experiment", "rollback", "--experiment", name]) == 0
        await switched(lives, 4, since=time.perf_counter())
        assert [live.current for live in lives] == [moved] * 4
        assert await pillars(["experiment", "show", name]) == 0
        file = tmp_path / "exp.yaml"
        file.write_text(f"name: {name}\nsalt: {tenant}\narms: [{{name: c, top_k: 7}}]\n")
        assert await pillars(["experiment", "set", str(file), "--reason", "only c"]) == 0
        await switched(lives, 5, since=time.perf_counter())
        assert {live.current.arms[0].name for live in lives} == {"c"}
        flips = []  # a few more changes, for the spread of the switch time
        for version in range(6, 11):
            weights = (version % 2, 1 - version % 2)
            arms = tuple(
                a.model_copy(update={"weight": w}) for a, w in zip(moved.arms, weights, strict=True)
            )
            change = await store.write(
                moved.model_copy(update={"arms": arms}), reason="flip", actor="test"
            )
            announced = time.perf_counter()
            await client.publish(Topic.EXPERIMENTS, change.announcement())
            flips.append(max(await switched(lives, version, since=announced)))
        await watch.stop()
    shown = capsys.readouterr().out
    assert f"experiment {name}: v4 in force" in shown
    assert "rollback to v2" in shown
    assert "promote a" in shown
    with capsys.disabled():  # the measured times, for the README
        print(f"\nannounced -> in force, per replica (s): {[round(s, 4) for s in seconds]}")
        print(f"`pillars experiment promote` -> in force (s): {round(max(cli_seconds), 3)}")
        print(f"{len(flips)} more changes, last replica (s): {[round(s, 4) for s in flips]}")

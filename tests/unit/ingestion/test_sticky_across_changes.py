"""Sticky assignment across experiment versions put in force at run time: a user keeps
their arm while it serves, however the weights change; a removed arm's users, and a
promotion's (the other arms kept at weight 0), are assigned again."""

from __future__ import annotations

from collections import Counter

from services.ingestion.handlers import accept_request, catch_up
from shared.contracts.events import ExperimentChanged, InferenceRequest
from shared.experiment_store import LiveExperiment
from shared.experiments import Arm, Experiment, assign_arm
from tests.fakes import InMemoryAssignments
from tests.unit.shared.test_experiment_store import InMemoryExperimentStore

USERS = [f"u{i}" for i in range(300)]
V1 = Experiment(name="exp", arms=(Arm(name="a", weight=1), Arm(name="b", weight=1)))
V2 = Experiment(name="exp", arms=(Arm(name="a", weight=1), Arm(name="b", weight=9)))
V3 = Experiment(name="exp", arms=(Arm(name="c", weight=1), Arm(name="b", weight=1)))


def announced(experiment: Experiment, version: int) -> ExperimentChanged:
    return ExperimentChanged(
        tenant="platform", name="exp", version=version, experiment=experiment, actor="cli"
    )


async def arms_of(live: LiveExperiment, book: InMemoryAssignments) -> dict[str, str]:
    """Each user's arm for a request accepted under the version in force now."""
    arms = {}
    for user in USERS:
        request = InferenceRequest(tenant="t", request_id=f"r-{user}", query="q", user_id=user)
        accepted = await accept_request(request, experiment=live.current, assignments=book)
        arms[user] = accepted.variant
    return arms


async def test_users_keep_their_arm_through_a_weight_change_and_move_when_it_goes() -> None:
    live, book = LiveExperiment(V1, 1), InMemoryAssignments()
    first = await arms_of(live, book)
    assert set(first.values()) == {"a", "b"}

    assert live.apply(announced(V2, 2))  # b now takes 90% of new users
    assert await arms_of(live, book) == first  # nobody moved
    unremembered = Counter(assign_arm(V2, f"new{i}").name for i in range(300))
    assert unremembered["b"] > 240  # the new weights do apply to new users

    assert live.apply(announced(V3, 3))  # arm a is gone, c is new
    third = await arms_of(live, book)
    assert all(third[u] == "b" for u in USERS if first[u] == "b")  # b's users stay
    moved = [u for u in USERS if first[u] == "a"]
    assert all(third[u] == assign_arm(V3, u).name for u in moved)  # assigned again, by v3
    assert "c" in {third[u] for u in moved}
    assert await arms_of(live, book) == third  # and keep their new arm from then on


async def test_a_promotion_moves_the_other_arms_users_to_the_promoted_one() -> None:
    live, book = LiveExperiment(V1, 1), InMemoryAssignments()
    first = await arms_of(live, book)
    promoted = Experiment(name="exp", arms=(Arm(name="a", weight=0), Arm(name="b", weight=1)))
    assert live.apply(announced(promoted, 2))
    assert set((await arms_of(live, book)).values()) == {"b"}
    # Weight back on a: its former users stay with b, where they were moved.
    assert live.apply(announced(V1, 3))
    after = await arms_of(live, book)
    assert all(after[u] == "b" for u in USERS if first[u] == "a")


async def test_an_older_announcement_arriving_late_changes_no_assignment() -> None:
    live, book = LiveExperiment(V2, 2), InMemoryAssignments()
    first = await arms_of(live, book)
    assert not live.apply(announced(V3, 1))
    assert await arms_of(live, book) == first


async def test_a_missed_version_is_caught_up_from_the_store() -> None:
    store = InMemoryExperimentStore()
    live = LiveExperiment.of(await store.seed(V1))
    await store.write(V3, reason="drop a", actor="loop")
    await catch_up(store=store, live=live)
    assert (live.version, live.current) == (2, V3)

import pytest

from services.scaler.policy import (
    DrainPolicy,
    KedaPolicy,
    Observation,
    Rates,
    RateTracker,
    Stabilizer,
)

DRAIN = DrainPolicy(target_drain_s=10, minimum=1, maximum=8)
KEDA = KedaPolicy(lag_threshold=100, minimum=1, maximum=8)


def seen(
    *lags: int, at: float = 0.0, end: int = 0, committed: int = 0, replicas: int = 1
) -> Observation:
    return Observation(
        at=at, partition_lags=lags, end_offsets=end, committed=committed, replicas=replicas
    )


def rates(arrival: float = 0.0, per_replica: float = 10.0) -> Rates:
    return Rates(arrival=arrival, processed=0.0, per_replica=per_replica, measured=True)


@pytest.mark.parametrize(
    ("observation", "rate", "replicas", "reason"),
    [
        # idle topic: nothing arrives, nothing lags
        (seen(0, 0, 0), rates(), 1, "kept at the minimum of 1"),
        # keeping up with arrivals alone: 25/s at 10/s per replica
        (seen(0, 0, 0), rates(arrival=25), 3, "arrival 25.0/s"),
        # draining 200 in 10 s at 10/s per replica needs 2
        (seen(100, 100, 0), rates(), 2, "lag 200 over 10 s"),
        # arrivals and lag add up: (10 + 300/10) / 10 = 4, capped by 3 partitions
        (seen(100, 100, 100), rates(arrival=10), 3, "capped at 3 by partitions"),
        # persistent lag on one partition, nothing arriving: one consumer can take it
        (seen(5000, 0, 0), rates(), 1, "capped at 1 by partitions with lag"),
        (seen(*[1000] * 12), rates(), 8, "capped at 8 by max replicas"),
        # a topic that does not exist yet has no partitions
        (seen(), rates(arrival=25), 1, "wants 3, capped at 1 by partitions"),
    ],
)
def test_drain_policy(observation: Observation, rate: Rates, replicas: int, reason: str) -> None:
    recommended = DRAIN.recommend(observation, rate)

    assert recommended.replicas == replicas
    assert reason in recommended.reason


def test_drain_policy_says_when_the_rate_is_only_assumed() -> None:
    assumed = Rates(arrival=0.0, processed=0.0, per_replica=20.0, measured=False)

    assert "(assumed)" in DRAIN.recommend(seen(100), assumed).reason


@pytest.mark.parametrize(
    ("lags", "replicas", "reason"),
    [
        ((0, 0, 0), 1, "kept at the minimum"),
        ((150, 100, 0), 3, "lag 250 at 100 per replica"),
        # KEDA counts all partitions, even idle ones, as the ceiling
        ((5000, 0, 0), 3, "capped at 3 by partitions"),
    ],
)
def test_keda_policy_is_lag_over_threshold(
    lags: tuple[int, ...], replicas: int, reason: str
) -> None:
    recommended = KEDA.recommend(seen(*lags), rates())

    assert recommended.replicas == replicas
    assert reason in recommended.reason


def test_rates_come_from_offset_deltas_and_capacity_only_from_busy_intervals() -> None:
    tracker = RateTracker(default_per_replica=20.0, warmup_s=0)

    first = tracker.update(seen(0, at=0.0, end=100, committed=100))
    idle = tracker.update(seen(0, at=10.0, end=150, committed=150))
    busy_start = tracker.update(seen(500, at=20.0, end=700, committed=200))
    busy = tracker.update(seen(300, at=30.0, end=800, committed=500))

    assert (first.arrival, first.per_replica, first.measured) == (0.0, 20.0, False)
    # idle: 5/s arrive and are processed, which says nothing about capacity
    assert (idle.arrival, idle.processed, idle.per_replica, idle.measured) == (
        5.0,
        5.0,
        20.0,
        False,
    )
    assert busy_start.arrival == 55.0
    # busy for the whole interval: 300 in 10 s
    assert (busy.processed, busy.per_replica, busy.measured) == (30.0, 30.0, True)


def test_capacity_is_the_best_recent_sample_and_ignores_warm_up_after_scaling() -> None:
    tracker = RateTracker(default_per_replica=5.0, warmup_s=15, window=3)
    committed = 0

    def step(at: float, per_second: float, replicas: int) -> Rates:
        nonlocal committed
        committed += int(per_second * 5)
        return tracker.update(
            seen(1000, 1000, at=at, end=10_000, committed=committed, replicas=replicas)
        )

    step(0, 0, 1)
    assert step(5, 40, 1).per_replica == 40.0
    assert step(10, 20, 1).per_replica == 40.0  # a slow interval does not lower it
    # scaled to 4: new replicas start and the group rebalances; no samples for 15 s
    assert step(15, 10, 4).per_replica == 40.0
    assert step(20, 10, 4).per_replica == 40.0
    assert step(30, 10, 4).per_replica == 40.0
    assert step(35, 120, 4).per_replica == 40.0  # = 30 per replica, below the best
    assert step(40, 100, 4).per_replica == 30.0  # the 40 left the window of 3 samples
    assert step(45, 100, 4).per_replica == 30.0
    assert step(50, 100, 4).per_replica == 25.0  # capacity really fell: followed in 3 samples


def test_no_committed_offsets_yet_means_the_whole_topic_lags() -> None:
    tracker = RateTracker(default_per_replica=10.0)
    tracker.update(seen(400, at=0.0, end=400, committed=0))
    rate = tracker.update(seen(600, at=10.0, end=600, committed=0))

    assert rate.processed == 0.0
    assert not rate.measured  # nothing committed: no capacity sample
    assert DRAIN.recommend(seen(200, 200, 200), rate).replicas == 3


def test_stabilizer_scales_up_at_once_and_down_after_its_window() -> None:
    window = Stabilizer(window_s=60)

    assert window.settle(0, 1) == 1
    assert window.settle(5, 3) == 3  # up: immediately
    assert window.settle(30, 1) == 3  # down: held while 3 is in the window
    assert window.settle(64, 1) == 3
    assert window.settle(66, 1) == 1  # the 3 at t=5 left the window


def test_work_done_without_lag_is_a_floor_under_the_assumed_rate() -> None:
    tracker = RateTracker(default_per_replica=20.0, warmup_s=0)
    tracker.update(seen(0, at=0.0, end=0, committed=0, replicas=2))

    quiet = tracker.update(seen(0, at=10.0, end=840, committed=840, replicas=2))

    assert (quiet.per_replica, quiet.measured) == (42.0, False)  # at least 42/s each
    assert DRAIN.recommend(seen(0, 0, 0), rates(arrival=84, per_replica=42.0)).replicas == 2


def test_a_replica_running_several_consumers_takes_that_many_partitions() -> None:
    # 3 partitions, each replica reading them with 3 consumers: a second replica would idle
    parallel = Observation(
        at=0.0, partition_lags=(100, 100, 100), end_offsets=0, committed=0, replicas=1,
        consumers_per_replica=3,
    )  # fmt: skip

    recommended = DRAIN.recommend(parallel, rates(arrival=10))

    assert recommended.replicas == 1
    assert "capped at 1 by partitions" in recommended.reason
    # six partitions feed two such replicas
    wider = Observation(
        at=0.0, partition_lags=(100,) * 6, end_offsets=0, committed=0, replicas=1,
        consumers_per_replica=3,
    )  # fmt: skip
    assert DRAIN.recommend(wider, rates(arrival=10)).replicas == 2

from services.scaler.adapters.replica_backends import DryRun
from services.scaler.handlers import ServiceScaler, observe, scale_service
from services.scaler.policy import DrainPolicy
from services.scaler.ports import GroupLag
from tests.unit.scaler.fakes import FailingBackend, RecordingBackend


def group(
    topic: str, lags: tuple[int, ...], end: int, committed: int, members: int = 1
) -> GroupLag:
    return GroupLag(
        group=f"pillars.embedding.{topic}",
        topic=topic,
        partition_lags=lags,
        end_offsets=end,
        committed=committed,
        members=members,
    )


def test_a_services_groups_add_up_per_partition_index() -> None:
    seen = observe(
        [group("chunks", (5, 0, 1), 100, 94), group("requests", (1, 2), 10, 7)], 2, at=1.0
    )

    assert seen.partition_lags == (6, 2, 1)
    assert (seen.end_offsets, seen.committed, seen.replicas, seen.lag) == (110, 101, 2, 9)


def test_a_decision_carries_its_inputs_and_holds_replicas_through_the_window() -> None:
    scaler = ServiceScaler(
        "embedding",
        DrainPolicy(target_drain_s=10, minimum=1, maximum=8, scale_down_stabilization_s=30),
        default_rate_per_replica=10.0,
    )

    burst = scaler.decide(
        [group("chunks", (200, 200, 200), 600, 0)], replicas=1, at=0.0, backend="local"
    )
    drained = scaler.decide(
        [group("chunks", (0, 0, 0), 600, 600)], replicas=3, at=10.0, backend="local"
    )
    later = scaler.decide(
        [group("chunks", (0, 0, 0), 600, 600)], replicas=3, at=45.0, backend="local"
    )

    assert (burst.lag, burst.partitions, burst.partition_lags) == (600, 3, [200, 200, 200])
    assert (burst.recommended_replicas, burst.desired_replicas, burst.current_replicas) == (3, 3, 1)
    assert burst.policy == "drain"
    assert burst.backend == "local"
    assert not burst.acted
    assert drained.processed_rate == 60.0
    assert drained.arrival_rate == 0.0
    assert (drained.recommended_replicas, drained.desired_replicas) == (1, 3)
    assert "scale-down window" in drained.reason
    assert later.desired_replicas == 1


def burst_scaler() -> ServiceScaler:
    return ServiceScaler(
        "embedding",
        DrainPolicy(target_drain_s=10, minimum=1, maximum=8),
        default_rate_per_replica=10.0,
    )


async def test_scaling_acts_on_the_backend_when_the_decision_changes_replicas() -> None:
    backend = RecordingBackend(running=1)

    decision = await scale_service(
        [group("chunks", (200, 200, 200), 600, 0)],
        consumers=[1],
        scaler=burst_scaler(),
        backend=backend,
        clock=lambda: 0.0,
    )

    assert backend.calls == [("embedding", 3)]
    assert (decision.current_replicas, decision.desired_replicas) == (1, 3)
    assert decision.acted
    assert decision.error == ""


async def test_a_failed_scale_is_recorded_in_the_decision_not_raised() -> None:
    backend = FailingBackend(running=1)

    decision = await scale_service(
        [group("chunks", (200, 200, 200), 600, 0)],
        consumers=[1],
        scaler=burst_scaler(),
        backend=backend,
        clock=lambda: 0.0,
    )

    assert backend.calls == [("embedding", 3)]
    assert not decision.acted
    assert decision.error == "RuntimeError: supervisor refused PUT embedding: gone"


async def test_a_dry_run_counts_replicas_from_group_members_and_never_acts() -> None:
    decision = await scale_service(
        [group("chunks", (200, 200, 200), 600, 0, members=4)],
        consumers=[2],  # two consumers per replica: four members are two replicas
        scaler=burst_scaler(),
        backend=DryRun(),
        clock=lambda: 0.0,
    )

    assert decision.current_replicas == 2
    assert decision.backend == "dry-run"
    assert not decision.acted

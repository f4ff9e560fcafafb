import pytest

from services.scaler.handlers import LagPolicy, decide_replicas
from services.scaler.ports import GroupLag

POLICY = LagPolicy(lag_per_replica=100, minimum=1, maximum=8)


def lag(value: int, partitions: int = 3, members: int = 1, topic: str = "t") -> GroupLag:
    return GroupLag(
        group=f"g.{topic}", topic=topic, partitions=partitions, lag=value, members=members
    )


@pytest.mark.parametrize(
    ("lags", "desired", "reason"),
    [
        ([lag(0)], 1, "kept at the minimum"),
        ([lag(250)], 3, "lag 250 at 100 per replica"),
        ([lag(5000)], 3, "capped at 3 by partitions"),
        ([lag(5000, partitions=12)], 8, "capped at 8 by max replicas"),
        ([lag(150, topic="a"), lag(60, topic="b")], 3, "lag 210"),
        ([], 1, "kept at the minimum"),
    ],
)
def test_replicas_follow_lag_within_bounds(lags: list[GroupLag], desired: int, reason: str) -> None:
    decision = decide_replicas("embedding", lags, policy=POLICY)
    assert decision.desired_replicas == desired
    assert reason in decision.reason
    assert decision.lag == sum(g.lag for g in lags)
    assert not decision.acted

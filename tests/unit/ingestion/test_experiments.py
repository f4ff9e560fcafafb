import pytest
from pydantic import ValidationError

from services.ingestion.config import Arm, Experiment
from services.ingestion.experiments import assign_arm, bucket


def test_weights_split_traffic_in_proportion() -> None:
    experiment = Experiment(arms=[Arm(name="small", weight=1), Arm(name="large", weight=3)])
    arms = [assign_arm(experiment, f"user-{i}").name for i in range(4000)]
    share = arms.count("large") / len(arms)
    assert 0.72 < share < 0.78


def test_salt_reshuffles_units() -> None:
    moved = sum(bucket("a", f"u{i}") < 0.5 != (bucket("b", f"u{i}") < 0.5) for i in range(1000))
    assert 300 < moved < 700


def test_duplicate_arm_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate arm names"):
        Experiment(arms=[Arm(name="a", weight=1), Arm(name="a", weight=1)])

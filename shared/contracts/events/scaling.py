"""Replica decisions (topic `scaling`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field

from shared.contracts.events.base import Event

__all__ = ["ScalingDecision"]


class ScalingDecision(Event):
    """A replica decision for one service, with what it was based on (topic `scaling`)."""

    # Read by no service, only by dashboards and operators: a figure that is not finite
    # stays as it was (JSON writes it as null) rather than failing its producer.
    model_config = ConfigDict(allow_inf_nan=True)

    key_field: ClassVar[str] = "service"

    service: str
    consumer_group: str
    topics: list[str]
    partitions: int = Field(ge=0)
    partition_lags: list[int] = Field(
        default_factory=list, description="Lag per partition index, summed over the topics."
    )
    lag: int = Field(ge=0)
    arrival_rate: float = Field(default=0.0, ge=0, description="Messages/s produced.")
    processed_rate: float = Field(default=0.0, ge=0, description="Messages/s committed.")
    rate_per_replica: float = Field(default=0.0, ge=0, description="One replica's capacity.")
    rate_measured: bool = Field(
        default=False, description="False while rate_per_replica is the configured assumption."
    )
    policy: str = Field(default="drain", description="`drain` (pillars) or `keda`.")
    recommended_replicas: int = Field(default=0, ge=0, description="Before stabilisation.")
    current_replicas: int = Field(ge=0)
    desired_replicas: int = Field(ge=0)
    reason: str
    backend: str = Field(default="dry-run", description="`local`, `kubernetes` or `dry-run`.")
    acted: bool = Field(default=False, description="The backend changed the replica count.")
    error: str = Field(default="", description="Why acting failed, if it did.")

"""Scaler settings: what it watches, how often, and its replica bounds."""

from __future__ import annotations

from pydantic import Field

from shared.settings import PillarsSettings
from shared.topics import CONSUMED_BY, Topic

__all__ = ["ScalerSettings"]

# Which topics each service consumes; its consumer groups are `<prefix>.<service>.<topic>`.
DEFAULT_WATCH: dict[str, list[Topic]] = {
    service: list(topics) for service, topics in CONSUMED_BY.items()
}


class ScalerSettings(PillarsSettings):
    """`PILLARS_*` settings of the scaler service."""

    scaler_interval_s: float = Field(default=5.0, gt=0, description="Seconds between decisions.")
    scaler_lag_per_replica: int = Field(
        default=100, ge=1, description="Lag one replica is expected to absorb."
    )
    scaler_min_replicas: int = Field(default=1, ge=0, description="Lower replica bound.")
    scaler_max_replicas: int = Field(default=8, ge=1, description="Upper replica bound.")
    scaler_watch: dict[str, list[Topic]] = Field(
        default_factory=lambda: dict(DEFAULT_WATCH),
        description="JSON: service -> topics it consumes.",
    )

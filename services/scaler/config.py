"""Scaler settings: what it watches, how often, and its replica bounds."""

from __future__ import annotations

from pydantic import Field

from shared.settings import PillarsSettings

__all__ = ["ScalerSettings"]

# Which topics each service consumes; its consumer groups are `<prefix>.<service>.<topic>`.
DEFAULT_WATCH: dict[str, list[str]] = {
    "ingestion": ["documents", "requests"],
    "embedding": ["chunks", "requests.accepted"],
    "inference": ["requests.embedded"],
    "evaluator": ["predictions"],
    "feedback": ["predictions", "feedback"],
}


class ScalerSettings(PillarsSettings):
    """`PILLARS_*` settings of the scaler service."""

    scaler_interval_s: float = Field(default=5.0, gt=0, description="Seconds between decisions.")
    scaler_lag_per_replica: int = Field(
        default=100, ge=1, description="Lag one replica is expected to absorb."
    )
    scaler_min_replicas: int = Field(default=1, ge=0, description="Lower replica bound.")
    scaler_max_replicas: int = Field(default=8, ge=1, description="Upper replica bound.")
    scaler_watch: dict[str, list[str]] = Field(
        default_factory=lambda: dict(DEFAULT_WATCH),
        description="JSON: service -> topics it consumes.",
    )

"""Scaler settings: what it watches, how it decides, and where it acts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.contracts.topics import BROADCAST, CONSUMED_BY, Topic
from shared.kit.settings import PillarsSettings

__all__ = ["ScalerSettings"]

# Which topics each service consumes in shared groups (`<prefix>.<service>.<topic>`); a
# broadcast topic's readers each have their own group, so it is no work to scale for.
DEFAULT_WATCH: dict[str, list[Topic]] = {
    service: [t for t in topics if (service, t) not in BROADCAST]
    for service, topics in CONSUMED_BY.items()
}


class ScalerSettings(PillarsSettings):
    """`PILLARS_*` settings of the scaler service."""

    scaler_interval_s: float = Field(default=5.0, gt=0, description="Seconds between decisions.")
    scaler_policy: Literal["drain", "keda"] = Field(
        default="drain",
        description="`drain`: drain the lag within the target time at the measured rate; "
        "`keda`: KEDA's ceil(lag / lag threshold), for comparison.",
    )
    scaler_target_drain_s: float = Field(
        default=30.0, gt=0, description="Seconds within which the lag should drain (drain)."
    )
    scaler_rate_per_replica: float = Field(
        default=20.0,
        gt=0,
        description="Messages/s one replica is assumed to process until the scaler measures it.",
    )
    scaler_warmup_s: float = Field(
        default=15.0,
        ge=0,
        description="After replicas change, seconds before throughput counts as capacity again.",
    )
    scaler_lag_threshold: int = Field(
        default=100, ge=1, description="Lag per replica of the keda policy (KEDA's lagThreshold)."
    )
    scaler_scale_down_stabilization_s: float | None = Field(
        default=None,
        ge=0,
        description="Scale-down window; unset = 60 s for drain, the HPA's 300 s for keda.",
    )
    scaler_min_replicas: int = Field(default=1, ge=0, description="Lower replica bound.")
    scaler_max_replicas: int = Field(default=8, ge=1, description="Upper replica bound.")
    scaler_watch: dict[str, list[Topic]] = Field(
        default_factory=lambda: dict(DEFAULT_WATCH),
        description="JSON: service -> topics it consumes.",
    )
    scaler_backend: Literal["auto", "local", "kubernetes", "dry-run"] = Field(
        default="auto",
        description="Where replicas change: `local` (the supervisor of `pillars up`), "
        "`kubernetes` (Deployment scale subresource), `dry-run` (decide only); "
        "`auto` = local under `pillars up`, else dry-run.",
    )
    supervisor_url: str | None = Field(
        default=None, description="The control API of `pillars up`'s supervisor (set by it)."
    )
    scaler_k8s_namespace: str = Field(default="pillars", description="Namespace of the services.")
    scaler_k8s_deployment_prefix: str = Field(
        default="pillars-", description="Deployment of a service: `<prefix><service>`."
    )
    scaler_k8s_api_url: str | None = Field(
        default=None,
        description="Kubernetes API server; unset = in-cluster service account, else kubeconfig.",
    )
    scaler_k8s_token: str | None = Field(
        default=None, description="Bearer token for PILLARS_SCALER_K8S_API_URL."
    )

"""Scaler assembled: its lag probe, its replica backend and one scaler per watched service,
real or given by a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

from services.scaler.adapters.kafka_lag import KafkaLagProbe
from services.scaler.adapters.replica_backends import DryRun, LocalSupervisor
from services.scaler.config import ScalerSettings
from services.scaler.handlers import ServiceScaler
from services.scaler.policy import DrainPolicy, KedaPolicy, Policy
from services.scaler.ports import LagProbe, ReplicaBackend

__all__ = ["ScalerDependencies", "bootstrap", "make_backend", "make_policy", "make_scalers"]


@dataclass(frozen=True)
class ScalerDependencies:
    """Everything the scaler's rounds need, built once per process."""

    settings: ScalerSettings
    probe: LagProbe
    backend: ReplicaBackend
    scalers: Mapping[str, ServiceScaler]


def make_policy(settings: ScalerSettings) -> Policy:
    """The configured policy with its bounds; its own scale-down window unless one is set."""
    low, high = settings.scaler_min_replicas, settings.scaler_max_replicas
    policy: DrainPolicy | KedaPolicy
    if settings.scaler_policy == "keda":
        policy = KedaPolicy(lag_threshold=settings.scaler_lag_threshold, minimum=low, maximum=high)
    else:
        policy = DrainPolicy(
            target_drain_s=settings.scaler_target_drain_s, minimum=low, maximum=high
        )
    window = settings.scaler_scale_down_stabilization_s
    return policy if window is None else replace(policy, scale_down_stabilization_s=window)


def make_backend(settings: ScalerSettings) -> ReplicaBackend:
    """The configured backend; `auto` acts on `pillars up`'s supervisor when there is one."""
    chosen = settings.scaler_backend
    if chosen == "auto":
        chosen = "local" if settings.supervisor_url else "dry-run"
    if chosen == "local":
        if not settings.supervisor_url:
            raise RuntimeError(
                "PILLARS_SCALER_BACKEND=local needs PILLARS_SUPERVISOR_URL (`pillars up` sets it)"
            )
        return LocalSupervisor(settings.supervisor_url)
    if chosen == "kubernetes":
        from services.scaler.adapters.kubernetes_backend import KubernetesDeployments

        return KubernetesDeployments(
            settings.scaler_k8s_namespace,
            settings.scaler_k8s_deployment_prefix,
            api_url=settings.scaler_k8s_api_url,
            token=settings.scaler_k8s_token,
        )
    return DryRun()


def make_scalers(settings: ScalerSettings) -> dict[str, ServiceScaler]:
    """One scaler per watched service, each with its own policy, rates and window."""
    return {
        service: ServiceScaler(
            service,
            make_policy(settings),
            settings.scaler_rate_per_replica,
            warmup_s=settings.scaler_warmup_s,
        )
        for service in settings.scaler_watch
    }


@asynccontextmanager
async def bootstrap(
    settings: ScalerSettings,
    *,
    probe: LagProbe | None = None,
    backend: ReplicaBackend | None = None,
) -> AsyncIterator[ScalerDependencies]:
    """Build the scaler's dependencies from `settings`; a test overrides the probe or the
    backend (and then no Kafka client is opened for it). The scaler has no database."""
    async with AsyncExitStack() as stack:
        backend = backend or make_backend(settings)  # a misconfiguration fails before Kafka
        if probe is None:
            # aiokafka clients must be built inside the running loop: here, not at import.
            kafka = KafkaLagProbe(settings.bootstrap_servers, settings)
            await kafka.start()
            stack.push_async_callback(kafka.stop)
            probe = kafka
        yield ScalerDependencies(settings, probe, backend, make_scalers(settings))

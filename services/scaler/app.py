"""Scaler's FastStream wiring: every few seconds, offsets -> a decision per service -> act."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace

from faststream import FastStream

from services.scaler.adapters.kafka_lag import KafkaLagProbe
from services.scaler.adapters.replica_backends import DryRun, LocalSupervisor
from services.scaler.config import ScalerSettings
from services.scaler.handlers import SERVICE, ServiceScaler
from services.scaler.policy import DrainPolicy, KedaPolicy, Policy
from services.scaler.ports import GroupLag, ReplicaBackend
from shared.contracts.events import ScalingDecision
from shared.contracts.topics import Topic, consumer_group, topic_name
from shared.kit.messaging import consumers_per_replica
from shared.kit.metrics import CONSUMER_LAG, CURRENT_REPLICAS, DESIRED_REPLICAS, SCALING_DECISIONS
from shared.kit.publishing import publish_event
from shared.kit.service import ServiceKit

__all__ = ["create_app", "make_backend", "make_policy"]

log = logging.getLogger(__name__)


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


def create_app(settings: ScalerSettings | None = None) -> FastStream:
    """Build the scaler app; its loop starts after the broker connects."""
    settings = settings or ScalerSettings()
    kit = ServiceKit(SERVICE, settings)
    decisions = kit.publisher(Topic.SCALING)
    backend = make_backend(settings)
    scalers = {
        service: ServiceScaler(
            service,
            make_policy(settings),
            settings.scaler_rate_per_replica,
            warmup_s=settings.scaler_warmup_s,
        )
        for service in settings.scaler_watch
    }
    tasks: list[asyncio.Task[None]] = []
    probes: list[KafkaLagProbe] = []  # aiokafka clients must be built inside the running loop

    async def decide(probe: KafkaLagProbe, service: str) -> None:
        prefix = settings.topic_prefix
        topics = settings.scaler_watch[service]
        groups = [
            await probe.observe(consumer_group(prefix, service, t), topic_name(t, prefix))
            for t in topics
        ]
        per_replica = [consumers_per_replica(settings, service, t) for t in topics]
        running = await backend.replicas(service)
        if running is None:  # each replica is one member per consumer it runs
            running = max(
                (math.ceil(g.members / n) for g, n in zip(groups, per_replica, strict=True)),
                default=0,
            )
        decision = scalers[service].decide(
            groups,
            replicas=running,
            at=time.monotonic(),
            backend=backend.name,
            consumers_per_replica=min(per_replica, default=1),
        )
        if decision.desired_replicas != running and backend.name != "dry-run":
            try:
                acted = await backend.scale(service, decision.desired_replicas)
                decision = decision.model_copy(update={"acted": acted})
            except Exception as exc:  # a failed action is reported, and retried next round
                log.exception("scaling %s to %d failed", service, decision.desired_replicas)
                decision = decision.model_copy(update={"error": f"{type(exc).__name__}: {exc}"})
        if decision.acted:
            log.info(
                "%s: %d -> %d replicas (%s)",
                service,
                running,
                decision.desired_replicas,
                decision.reason,
            )
        observe(decision, groups)
        await publish_event(decisions, decision, kit.source)

    async def loop() -> None:
        while True:
            for service in scalers:
                try:
                    await decide(probes[0], service)
                except Exception:  # a failed round must not end the loop: log it, try again
                    log.exception("scaling round for %s failed", service)
            await asyncio.sleep(settings.scaler_interval_s)

    async def start() -> None:
        probes.append(KafkaLagProbe(settings.bootstrap_servers))
        await probes[0].start()
        tasks.append(asyncio.create_task(loop(), name="scaler-loop"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for probe in probes:
            await probe.stop()

    return kit.app(after_startup=[start], on_shutdown=[stop])


def observe(decision: ScalingDecision, groups: Sequence[GroupLag]) -> None:
    """Export the round's lags, replica counts and direction as Prometheus metrics."""
    for group in groups:
        CONSUMER_LAG.labels(decision.service, group.group).set(group.lag)
    DESIRED_REPLICAS.labels(decision.service).set(decision.desired_replicas)
    CURRENT_REPLICAS.labels(decision.service).set(decision.current_replicas)
    change = decision.desired_replicas - decision.current_replicas
    direction = "up" if change > 0 else "down" if change < 0 else "hold"
    SCALING_DECISIONS.labels(decision.service, direction).inc()

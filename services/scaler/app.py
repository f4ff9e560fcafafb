"""Scaler's FastStream wiring: every few seconds, lag -> a `scaling` decision per service."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from faststream import FastStream

from services.scaler.adapters.kafka_lag import KafkaLagProbe
from services.scaler.config import ScalerSettings
from services.scaler.handlers import SERVICE, LagPolicy, decide_replicas
from shared.cloudevents import publish_event
from shared.service import ServiceKit
from shared.topics import Topic, consumer_group, topic_name

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: ScalerSettings | None = None) -> FastStream:
    """Build the scaler app; its loop starts after the broker connects."""
    settings = settings or ScalerSettings()
    kit = ServiceKit(SERVICE, settings)
    decisions = kit.publisher(Topic.SCALING)
    policy = LagPolicy(
        lag_per_replica=settings.scaler_lag_per_replica,
        minimum=settings.scaler_min_replicas,
        maximum=settings.scaler_max_replicas,
    )
    tasks: list[asyncio.Task[None]] = []
    probes: list[KafkaLagProbe] = []  # aiokafka clients must be built inside the running loop

    async def decide_all(probe: KafkaLagProbe) -> None:
        for service, topics in settings.scaler_watch.items():
            prefix = settings.topic_prefix
            lags = [
                await probe.observe(consumer_group(prefix, service, t), topic_name(t, prefix))
                for t in topics
            ]
            decision = decide_replicas(service, lags, policy=policy)
            await publish_event(decisions, decision, kit.source)

    async def loop() -> None:
        while True:
            try:
                await decide_all(probes[0])
            except Exception:  # a failed round must not end the loop: log it, try again
                log.exception("scaling round failed")
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

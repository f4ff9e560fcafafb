"""The scaler's round: for each watched service, its lag -> a decision -> act -> publish."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.scaler import metrics
from services.scaler.bootstrap import ScalerDependencies
from services.scaler.handlers import ServiceScaler, scale_service
from shared.contracts.events import ScalingDecision
from shared.contracts.topics import consumer_group, topic_name
from shared.kit.messaging import consumers_per_replica

__all__ = ["ScalingRound"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScalingRound:
    """One decision per watched service, each published; what `kit.every` runs.

    `deps` returns the assembled dependencies (built when the app starts), `publish` sends
    a decision to the scaling topic.
    """

    deps: Callable[[], ScalerDependencies]
    publish: Callable[[ScalingDecision], Awaitable[None]]

    async def __call__(self) -> None:
        """Scale every watched service; one that fails is logged and the others still run."""
        deps = self.deps()
        for service, scaler in deps.scalers.items():
            try:
                await self.scale(deps, service, scaler)
            except Exception:  # one service's failure must not stop the others' decisions
                log.exception("scaling round for %s failed", service)

    async def scale(self, deps: ScalerDependencies, service: str, scaler: ServiceScaler) -> None:
        """Observe `service`'s consumer groups, decide and act, then export and publish."""
        prefix = deps.settings.topic_prefix
        topics = deps.settings.scaler_watch[service]
        groups = [
            await deps.probe.observe(consumer_group(prefix, service, t), topic_name(t, prefix))
            for t in topics
        ]
        decision = await scale_service(
            groups,
            consumers=[consumers_per_replica(deps.settings, service, t) for t in topics],
            scaler=scaler,
            backend=deps.backend,
        )
        metrics.observe(decision, groups)
        await self.publish(decision)

"""Kubernetes: a service's replicas are its Deployment's scale subresource."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["KubernetesDeployments"]

MERGE_PATCH = "application/merge-patch+json"


class KubernetesDeployments:
    """Reads and patches `apps/v1` Deployment scale with the official client.

    Needs get and patch on `deployments/scale` in the namespace (compose/k8s/scaler-rbac.yaml).
    """

    name = "kubernetes"

    def __init__(
        self,
        namespace: str,
        deployment_prefix: str,
        *,
        api_url: str | None = None,
        token: str | None = None,
    ) -> None:
        from kubernetes import client, config

        if api_url:
            configuration = client.Configuration(
                host=api_url,
                api_key={"BearerToken": token} if token else None,
                api_key_prefix={"BearerToken": "Bearer"} if token else None,
            )
        else:
            configuration = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                config.load_kube_config(client_configuration=configuration)
        self._apps: Any = client.AppsV1Api(client.ApiClient(configuration))
        self._namespace = namespace
        self._prefix = deployment_prefix

    async def replicas(self, service: str) -> int | None:
        """Return the Deployment's desired replicas (spec.replicas of its scale)."""
        scale = await asyncio.to_thread(
            self._apps.read_namespaced_deployment_scale, self._prefix + service, self._namespace
        )
        return int(scale.spec.replicas or 0)

    async def scale(self, service: str, replicas: int) -> bool:
        """Patch the scale subresource; return whether the replica count changed."""
        if await self.replicas(service) == replicas:
            return False
        await asyncio.to_thread(
            self._apps.patch_namespaced_deployment_scale,
            self._prefix + service,
            self._namespace,
            {"spec": {"replicas": replicas}},
            _content_type=MERGE_PATCH,
        )
        return True

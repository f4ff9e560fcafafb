"""Where the scaler acts: `pillars up`'s supervisor, Kubernetes, or nowhere (dry run)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

__all__ = ["DryRun", "LocalSupervisor"]


class DryRun:
    """Decides, never acts: replicas come from the consumer groups' members."""

    name = "dry-run"

    async def replicas(self, service: str) -> int | None:
        """Unknown here: the caller counts consumer-group members instead."""
        return None

    async def scale(self, service: str, replicas: int) -> bool:
        """Do nothing."""
        return False


class LocalSupervisor:
    """The control API of `pillars up` (shared.platform.runtime.control), over HTTP on 127.0.0.1."""

    name = "local"

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"PILLARS_SUPERVISOR_URL must be an http(s) URL, not {url!r}")
        self._url = url.rstrip("/")
        # Stopping a replica waits for it to finish its batch and leave its groups.
        self._timeout_s = timeout_s

    async def replicas(self, service: str) -> int | None:
        """Return the replicas the supervisor keeps running."""
        body = await asyncio.to_thread(self._call, "GET", service, None)
        return int(body["replicas"])

    async def scale(self, service: str, replicas: int) -> bool:
        """Have the supervisor start or stop replica processes."""
        body = await asyncio.to_thread(self._call, "PUT", service, {"replicas": replicas})
        return bool(body["changed"])

    def _call(self, method: str, service: str, payload: dict[str, int] | None) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310  # http(s) only, checked in __init__
            f"{self._url}/services/{service}/replicas",
            method=method,
            data=None if payload is None else json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                body: dict[str, Any] = json.loads(response.read())
                return body
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise RuntimeError(f"supervisor refused {method} {service}: {detail}") from exc

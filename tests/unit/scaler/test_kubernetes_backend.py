"""The Kubernetes backend against an HTTP server that implements the scale subresource."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.scaler.adapters.kubernetes_backend import KubernetesDeployments
from shared.platform.runtime.control import reply_json

SCALE = re.compile(r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/deployments/(?P<name>[^/]+)/scale$")


@dataclass
class ScaleApi:
    """Deployments' `scale` subresource (autoscaling/v1 Scale), as the API server serves it."""

    replicas: dict[tuple[str, str], int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def handle(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        self.requests.append(
            {
                "method": method,
                "path": path,
                "content_type": headers.get("Content-Type"),
                "authorization": headers.get("Authorization"),
                "body": json.loads(body) if body else None,
            }
        )
        match = SCALE.match(path)
        key = (match["ns"], match["name"]) if match else None
        if key not in self.replicas:
            return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "reason": "NotFound", "code": 404}  # fmt: skip
        assert key is not None
        if method == "PATCH":
            if headers.get("Content-Type") != "application/merge-patch+json":
                return 415, {"kind": "Status", "code": 415, "reason": "UnsupportedMediaType"}
            self.replicas[key] = int(json.loads(body)["spec"]["replicas"])
        n = self.replicas[key]
        return 200, {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": key[1], "namespace": key[0]},
            "spec": {"replicas": n},
            "status": {"replicas": n, "selector": f"app={key[1]}"},
        }


@pytest.fixture
def api() -> Iterator[tuple[str, ScaleApi]]:
    state = ScaleApi(replicas={("pillars", "pillars-embedding"): 1})

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            status, body = state.handle(
                self.command, self.path, self.headers, self.rfile.read(length)
            )
            reply_json(self, status, body)

        do_GET = do_PATCH = _serve  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


async def test_reads_and_patches_the_deployments_scale_subresource(
    api: tuple[str, ScaleApi],
) -> None:
    url, state = api
    backend = KubernetesDeployments("pillars", "pillars-", api_url=url, token="s3cret")

    assert await backend.replicas("embedding") == 1
    assert await backend.scale("embedding", 3) is True
    assert await backend.scale("embedding", 3) is False  # already 3: no PATCH

    path = "/apis/apps/v1/namespaces/pillars/deployments/pillars-embedding/scale"
    assert [(r["method"], r["path"]) for r in state.requests] == [
        ("GET", path), ("GET", path), ("PATCH", path), ("GET", path)
    ]  # fmt: skip
    patch = state.requests[2]
    assert patch["body"] == {"spec": {"replicas": 3}}
    assert patch["content_type"] == "application/merge-patch+json"
    assert {r["authorization"] for r in state.requests} == {"Bearer s3cret"}
    assert state.replicas[("pillars", "pillars-embedding")] == 3


async def test_a_missing_deployment_is_an_error_naming_it(api: tuple[str, ScaleApi]) -> None:
    from kubernetes.client.exceptions import ApiException

    url, _ = api
    backend = KubernetesDeployments("pillars", "pillars-", api_url=url)

    with pytest.raises(ApiException) as raised:
        await backend.scale("inference", 2)
    assert raised.value.status == 404

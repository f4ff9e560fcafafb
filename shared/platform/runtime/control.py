"""The local supervisor's control API: read and set a service's replicas over HTTP.

`pillars up` serves it on 127.0.0.1 so the scaler (another process) can act on the
supervisor the way it acts on a Kubernetes Deployment's scale subresource:

    GET /services/NAME/replicas          -> {"service": NAME, "replicas": N}
    PUT /services/NAME/replicas {"replicas": N}
                                         -> {"service": NAME, "replicas": N, "changed": bool}
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

__all__ = ["MAX_LOCAL_REPLICAS", "ControlServer", "Scalable", "reply_json"]

MAX_LOCAL_REPLICAS = 16  # one laptop: a runaway scaler must not fork-bomb it
_PATH = re.compile(r"^/services/(?P<service>[a-z]+)/replicas$")
log = logging.getLogger(__name__)


class Scalable(Protocol):
    """What the control API drives: the supervisor."""

    def replicas(self, service: str) -> int:
        """Return how many replicas of `service` run."""
        ...

    def scale(self, service: str, replicas: int) -> bool:
        """Run `replicas` of `service`; return whether that changed anything."""
        ...


class ControlServer:
    """Serves the control API on 127.0.0.1, in a background thread.

    The socket binds at construction, so its URL can go into the environment the
    supervisor's children get before the supervisor exists; `start` attaches it.
    """

    def __init__(self, services: tuple[str, ...], port: int = 0) -> None:
        self._supervisor: list[Scalable] = []
        handler = _handler(self._supervisor, services)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pillars-control", daemon=True
        )

    @property
    def url(self) -> str:
        """Return `http://127.0.0.1:PORT`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, supervisor: Scalable) -> str:
        """Start serving for `supervisor`; return the URL."""
        self._supervisor.append(supervisor)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


def _handler(attached: list[Scalable], services: tuple[str, ...]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            service = self._service()
            if service is not None:
                replicas = attached[0].replicas(service)
                self._reply(HTTPStatus.OK, {"service": service, "replicas": replicas})

        def do_PUT(self) -> None:
            service = self._service()
            if service is None:
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                replicas = json.loads(self.rfile.read(length))["replicas"]
                if not isinstance(replicas, int) or not 0 <= replicas <= MAX_LOCAL_REPLICAS:
                    raise ValueError(replicas)
            except (ValueError, KeyError, TypeError):
                self._reply(
                    HTTPStatus.BAD_REQUEST,
                    {"error": f'send {{"replicas": 0..{MAX_LOCAL_REPLICAS}}} as JSON'},
                )
                return
            changed = attached[0].scale(service, replicas)
            self._reply(
                HTTPStatus.OK, {"service": service, "replicas": replicas, "changed": changed}
            )

        def _service(self) -> str | None:
            match = _PATH.match(self.path)
            if match is None or match["service"] not in services:
                self._reply(
                    HTTPStatus.NOT_FOUND,
                    {"error": f"no such path; services: {', '.join(services)}"},
                )
                return None
            return match["service"]

        def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            reply_json(self, status, body)

        def log_message(self, format: str, *args: Any) -> None:  # stdlib's name
            log.debug(format, *args)

    return Handler


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    """Send `body` as a JSON response from a `http.server` handler."""
    payload = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)

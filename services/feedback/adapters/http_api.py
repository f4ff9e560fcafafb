"""The feedback service's HTTP side: the feedback API and the human review page.

- `POST /v1/feedback`: one Feedback as JSON, validated exactly as on the `feedback` topic,
  then published there (202); 400 for a body that is not JSON, 422 with the validation
  errors for one that is not valid feedback, 401 without a known bearer token.
- `GET /v1/review/queue`: the predictions waiting for review (request, passages with their
  scores, answer, why queued).
- `GET /review`: the review page. It asks for the token, lists the queue, and posts each
  verdict (correct/incorrect, relevance 1-5, optional correction) as `review` feedback.
- `GET /healthz`.

Replicas share one port (SO_REUSEPORT): the kernel spreads connections between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import socket
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from services.feedback.ports import KnownPrediction
from shared.contracts.events import Feedback

__all__ = ["HttpServer", "build_http_app"]

Submit = Callable[[Feedback], Awaitable[None]]
Queue = Callable[[int], Awaitable[list[KnownPrediction]]]


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="pillars"'} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _authorised(request: Request, tokens: Sequence[str]) -> JSONResponse | None:
    """Return the 401 to send, or None when the request carries a known bearer token."""
    if not tokens:
        return _error(401, "no tokens are configured: set PILLARS_FEEDBACK_TOKENS")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _error(401, "send `Authorization: Bearer <token>`")
    if not any(hmac.compare_digest(token.encode(), t.encode()) for t in tokens):
        return _error(401, "unknown token")
    return None


def _item(known: KnownPrediction) -> dict[str, object]:
    return {
        "tenant": known.tenant,
        "request_id": known.request_id,
        "experiment": known.experiment,
        "variant": known.variant,
        "query": known.query,
        "answer": known.answer,
        "occurred_at": known.occurred_at.isoformat(),
        "reason": known.review_reason,
        "sources": [
            s.model_dump(mode="json", include={"document_id", "title", "source", "text", "score"})
            for s in known.sources
        ],
    }


def build_http_app(*, tokens: Sequence[str], submit: Submit, queue: Queue) -> Starlette:
    """Return the ASGI app; `submit` publishes a valid feedback, `queue` lists the review queue."""
    page = resources.files("services.feedback").joinpath("review.html").read_text("utf-8")

    async def post_feedback(request: Request) -> Response:
        if (refused := _authorised(request, tokens)) is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(400, f"the body is not JSON: {exc}")
        try:
            feedback = Feedback.model_validate(body)
        except ValidationError as exc:
            details = [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            return _error(422, "not valid feedback", details=details)
        await submit(feedback)
        return JSONResponse(
            {"status": "accepted", "feedback_id": feedback.feedback_id}, status_code=202
        )

    async def review_queue(request: Request) -> Response:
        if (refused := _authorised(request, tokens)) is not None:
            return refused
        try:
            limit = min(500, max(1, int(request.query_params.get("limit", "50"))))
        except ValueError:
            return _error(400, "limit must be a number")
        return JSONResponse({"items": [_item(k) for k in await queue(limit)]})

    async def review_page(_: Request) -> Response:
        return HTMLResponse(page)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/feedback", post_feedback, methods=["POST"]),
            Route("/v1/review/queue", review_queue, methods=["GET"]),
            Route("/review", review_page, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


class HttpServer:
    """Serves an ASGI app with uvicorn inside the service's event loop."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self._config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(self._config)
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None
        self.url: str | None = None

    async def start(self) -> None:
        """Bind (sharing the port with other replicas) and serve in the background."""
        family = socket.AF_INET6 if ":" in self._config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((self._config.host, self._config.port))
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="feedback-http")
        # The socket is listening already: connections wait in its backlog until uvicorn
        # accepts them. One turn of the loop lets a configuration error surface here.
        await asyncio.sleep(0)
        if self._task.done():
            self._task.result()

    async def stop(self) -> None:
        """Finish open requests and stop."""
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

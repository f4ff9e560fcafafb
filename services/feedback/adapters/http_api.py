"""The feedback service's HTTP side: the feedback API and the human review page.

- `POST /v1/feedback`: one Feedback as JSON, validated exactly as on the `feedback` topic,
  then published there (202); 400 for a body that is not JSON, 422 with the validation
  errors for one that is not valid feedback, 401 without a known token, 403 for a session
  call without the page's CSRF token, 413 over the body limit, 429 over the rate limit.
- `GET /v1/review/queue`: the predictions waiting for review (request, passages with their
  scores, answer, why queued), across tenants: a token is the platform's reviewers'.
- `GET /review`: the review page to a logged-in reviewer, else the login form (401);
  `POST /review/login` takes a token and sets the session cookie; `POST /review/logout`.
- `GET /healthz`.

What guards them (tokens, sessions, CSRF, limits, security headers) is `http_guard`.
Replicas share one port (SO_REUSEPORT): the kernel spreads connections between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from urllib.parse import parse_qs

import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from services.feedback.adapters.http_guard import (
    SESSION_COOKIE,
    Guard,
    HttpLimits,
    Refused,
    SecurityHeaders,
    page_policy,
)
from services.feedback.ports import KnownPrediction
from shared.contracts.events import Feedback

__all__ = ["HttpServer", "build_http_app"]

Submit = Callable[[Feedback], Awaitable[None]]
Queue = Callable[[int], Awaitable[list[KnownPrediction]]]


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


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


def _feedback(body: bytes) -> Feedback:
    """Return the Feedback in `body`, or raise Refused (400, 422) saying what is wrong."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Refused(400, f"the body is not JSON: {exc}") from None
    try:
        return Feedback.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        raise Refused(422, "not valid feedback", details=details) from None


class _Pages:
    """The review page and the login form, each with the CSP that fits it."""

    def __init__(self) -> None:
        folder = resources.files("services.feedback")
        self.review = folder.joinpath("review.html").read_text("utf-8")
        self.login = folder.joinpath("login.html").read_text("utf-8")

    def review_page(self, csrf: str) -> HTMLResponse:
        html = self.review.replace("__CSRF__", csrf)  # hex: nothing to escape
        return HTMLResponse(html, headers={"Content-Security-Policy": page_policy(html)})

    def login_page(self, message: str, status: int = 401, css: str = "meta") -> HTMLResponse:
        # `message` is one of this module's own sentences, never the request's text
        html = self.login.replace("__MESSAGE__", message).replace("__CLASS__", css)
        headers = {"Content-Security-Policy": page_policy(html)}
        return HTMLResponse(html, status_code=status, headers=headers)


def build_http_app(
    *, tokens: Sequence[str], submit: Submit, queue: Queue, limits: HttpLimits | None = None
) -> Starlette:
    """Return the ASGI app; `submit` publishes a valid feedback, `queue` lists the review queue."""
    guard = Guard(tokens, limits or HttpLimits())
    pages = _Pages()
    session_s = (limits or HttpLimits()).session_s

    async def post_feedback(request: Request) -> Response:
        guard.caller(request)
        feedback = _feedback(await guard.body(request))
        await submit(feedback)
        return JSONResponse(
            {"status": "accepted", "feedback_id": feedback.feedback_id}, status_code=202
        )

    async def review_queue(request: Request) -> Response:
        guard.caller(request)
        try:
            limit = min(500, max(1, int(request.query_params.get("limit", "50"))))
        except ValueError:
            return _error(400, "limit must be a number")
        return JSONResponse({"items": [_item(k) for k in await queue(limit)]})

    async def review_page(request: Request) -> Response:
        session = guard.session(request)
        if session is None:
            return pages.login_page("Log in with a feedback API token to review predictions.")
        return pages.review_page(session[1])

    async def login(request: Request) -> Response:
        guard.same_origin(request)
        guard.throttle(f"login:{request.client.host if request.client else '?'}")
        form = parse_qs((await guard.body(request)).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        if not guard.known(token):
            return pages.login_page("Unknown token.", css="error")
        cookie, _ = guard.session_cookie(token)
        reply = RedirectResponse("/review", status_code=303)
        secure = request.url.scheme == "https"
        reply.set_cookie(
            SESSION_COOKIE, cookie, session_s, httponly=True, samesite="strict", secure=secure
        )
        return reply

    async def logout(request: Request) -> Response:
        guard.same_origin(request)
        reply = RedirectResponse("/review", status_code=303)
        reply.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return reply

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/feedback", post_feedback, methods=["POST"]),
            Route("/v1/review/queue", review_queue, methods=["GET"]),
            Route("/review", review_page, methods=["GET"]),
            Route("/review/login", login, methods=["POST"]),
            Route("/review/logout", logout, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={Refused: _refused},
    )


async def _refused(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return exc.response()


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

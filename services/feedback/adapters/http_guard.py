"""What stands between a browser or a script and the feedback API: who is calling, whether a
browser's call was sent by the review page itself, how often a token may call, how much it
may send, and what a page may load.

- A script sends `Authorization: Bearer <token>`: a browser never attaches that header on
  its own, so a bearer call cannot be forged cross-site.
- A reviewer logs in once with a token; the page then holds a session cookie (HttpOnly,
  SameSite=Strict, signed with the token, no server state, so replicas share it) and sends
  the session's CSRF token in `X-CSRF-Token` with every call; a call with the cookie alone,
  or from another origin, is refused (403).
- Each token gets a token bucket (`PILLARS_FEEDBACK_RATE_PER_S`, burst
  `PILLARS_FEEDBACK_RATE_BURST`) per replica; login attempts one per client address: 429.
- Bodies over `PILLARS_FEEDBACK_MAX_BODY_BYTES` are refused unread past the limit: 413.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Caller",
    "Guard",
    "HttpLimits",
    "Refused",
    "SecurityHeaders",
    "page_policy",
]

SESSION_COOKIE = "pillars_review"
CSRF_HEADER = "x-csrf-token"
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


@dataclass(frozen=True)
class HttpLimits:
    """How much and how often a caller may send."""

    max_body_bytes: int = 64 * 1024
    rate_per_s: float = 20.0
    burst: int = 40
    session_s: int = 8 * 3600


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: the token it proved, and whether through the page's session."""

    token: str
    by_session: bool


class Refused(Exception):  # noqa: N818 - it names the outcome
    """A request that is answered with an error and goes no further."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.details = details

    def response(self) -> JSONResponse:
        """Return the JSON error this refusal answers with."""
        headers = dict(self.headers)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="pillars"'
        body: dict[str, object] = {"error": self.message}
        if self.details is not None:
            body["details"] = self.details
        return JSONResponse(body, status_code=self.status, headers=headers)


def page_policy(html: str) -> str:
    """Return a Content-Security-Policy for `html` that allows its own inline scripts and
    styles by hash, and nothing else: an injected script or event handler never runs."""

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in bodies)
        return " ".join(f"'sha256-{d}'" for d in digests) or "'none'"

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


class SecurityHeaders:
    """ASGI middleware: every response gets a CSP (JSON's forbids everything) and the
    headers that stop sniffing, framing and referrers."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = {
                    b"content-security-policy": JSON_POLICY.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    # not no-referrer: with it a browser posts the login form as Origin: null
                    b"referrer-policy": b"same-origin",
                    b"cache-control": b"no-store",
                }
                headers += [(k, v) for k, v in extra.items() if k not in names]
                message["headers"] = headers
            await send(message)

        await self._app(scope, receive, with_headers)


def _mac(token: str, purpose: str, expires: int) -> str:
    return hmac.new(token.encode(), f"{purpose}:{expires}".encode(), hashlib.sha256).hexdigest()


class Guard:
    """Authenticates, throttles and bounds the feedback API's requests."""

    def __init__(
        self,
        tokens: Sequence[str],
        limits: HttpLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._tokens = tuple(tokens)
        self._limits = limits
        self._clock = clock
        self._wall = wall
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens left, at)

    def known(self, token: str) -> bool:
        """Return whether `token` is one of the configured tokens (in constant time each)."""
        found = False
        for known in self._tokens:
            found |= hmac.compare_digest(token.encode(), known.encode())
        return found

    def session_cookie(self, token: str) -> tuple[str, str]:
        """Return a new session's cookie value for a known `token`, and its CSRF token."""
        expires = int(self._wall()) + self._limits.session_s
        return f"{expires}.{_mac(token, 'session', expires)}", _mac(token, "csrf", expires)

    def session(self, request: Request) -> tuple[str, str] | None:
        """Return the token and CSRF token of the request's live session cookie, if any."""
        expires_text, _, mac = request.cookies.get(SESSION_COOKIE, "").partition(".")
        if not expires_text.isdigit() or int(expires_text) < self._wall():
            return None
        expires = int(expires_text)
        for token in self._tokens:
            if hmac.compare_digest(mac, _mac(token, "session", expires)):
                return token, _mac(token, "csrf", expires)
        return None

    def caller(self, request: Request) -> Caller:
        """Return who calls the API, or raise Refused (401, 403, 429)."""
        if not self._tokens:
            raise Refused(401, "no tokens are configured: set PILLARS_FEEDBACK_TOKENS")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            if not self.known(token):
                raise Refused(401, "unknown token")
            caller = Caller(token, by_session=False)
        elif (session := self.session(request)) is not None:
            token, csrf = session
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), csrf.encode()):
                raise Refused(403, "a session call must carry the page's X-CSRF-Token")
            self.same_origin(request)
            caller = Caller(token, by_session=True)
        else:
            raise Refused(401, "send `Authorization: Bearer <token>`, or log in at /review")
        self.throttle("token:" + hashlib.sha256(caller.token.encode()).hexdigest())
        return caller

    def same_origin(self, request: Request) -> None:
        """Refuse (403) a browser request whose Origin is not this server's."""
        origin = request.headers.get("origin")
        if origin is None:
            return  # not a cross-site browser request: browsers send Origin on those
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != own:
            raise Refused(403, f"cross-origin request from {origin} refused")

    def throttle(self, key: str) -> None:
        """Take one call from `key`'s bucket, or raise Refused (429) with when to retry."""
        rate, burst = self._limits.rate_per_s, float(self._limits.burst)
        now = self._clock()
        left, at = self._buckets.get(key, (burst, now))
        left = min(burst, left + (now - at) * rate)
        if left < 1:
            wait = max(1, int((1 - left) / rate + 0.999))
            raise Refused(
                429,
                f"too many requests: at most {rate:g}/s (burst {burst:g}) a token",
                {"Retry-After": str(wait)},
            )
        self._buckets[key] = (left - 1, now)
        if len(self._buckets) > 10_000:  # forget the oldest callers, not the rate
            del self._buckets[next(iter(self._buckets))]

    async def body(self, request: Request) -> bytes:
        """Return the request body, or raise Refused (413) past the limit, unread beyond it."""
        limit = self._limits.max_body_bytes
        too_big = Refused(413, f"the body is over {limit} bytes (PILLARS_FEEDBACK_MAX_BODY_BYTES)")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_big
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > limit:
                raise too_big
        return bytes(body)

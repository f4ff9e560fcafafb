"""The feedback API under hostile callers: logins, CSRF, body and rate limits, and the
security headers, through the real ASGI app."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from services.feedback.adapters.http_api import build_http_app
from services.feedback.adapters.http_guard import CSRF_HEADER, SESSION_COOKIE, HttpLimits
from services.feedback.ports import KnownPrediction
from shared.contracts.events import Feedback

pytestmark = pytest.mark.security

TOKEN = "reviewer-token"
BASE = "http://feedback.test"
CLICK = b'{"tenant": "acme", "feedback_id": "f1", "request_id": "r1", "kind": "click"}'


class Recorded:
    def __init__(self) -> None:
        self.submitted: list[Feedback] = []

    async def submit(self, feedback: Feedback) -> None:
        self.submitted.append(feedback)

    async def queue(self, limit: int) -> list[KnownPrediction]:
        now = datetime.now(UTC)
        return [KnownPrediction("acme", "r1", "e", "a", "answer", now, None, "q", (), "sampled")]


def client_for(limits: HttpLimits, recorded: Recorded) -> httpx.AsyncClient:
    app = build_http_app(
        tokens=[TOKEN], submit=recorded.submit, queue=recorded.queue, limits=limits
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(HttpLimits(burst=1000), Recorded()) as client:
        yield client


BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def logged_in(http: httpx.AsyncClient) -> str:
    """Log in through the form; return the page's CSRF token."""
    reply = await http.post("/review/login", data={"token": TOKEN}, headers={"Origin": BASE})
    assert reply.status_code == 303
    assert SESSION_COOKIE in http.cookies
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    page = await http.get("/review")
    assert page.status_code == 200
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
    assert found is not None
    return found.group(1)


async def test_the_review_page_needs_a_login_and_a_wrong_token_is_refused(
    http: httpx.AsyncClient,
) -> None:
    anonymous = await http.get("/review")
    assert anonymous.status_code == 401
    assert 'id="token"' in anonymous.text
    assert "review-item" not in anonymous.text
    assert "item-template" not in anonymous.text
    wrong = await http.post("/review/login", data={"token": "guess"}, headers={"Origin": BASE})
    assert (wrong.status_code, "Unknown token." in wrong.text) == (401, True)
    assert SESSION_COOKIE not in http.cookies
    forged = httpx.Cookies({SESSION_COOKIE: "99999999999.deadbeef"})
    http.cookies = forged
    assert (await http.get("/review")).status_code == 401
    http.cookies = httpx.Cookies()
    await logged_in(http)
    await http.post("/review/logout", headers={"Origin": BASE})
    assert (await http.get("/review")).status_code == 401


async def test_session_calls_need_the_csrf_token_and_the_same_origin(
    http: httpx.AsyncClient,
) -> None:
    csrf = await logged_in(http)
    json_body = {"Content-Type": "application/json"}
    # what a cross-site form or fetch can send: the cookie, no CSRF header
    assert (await http.get("/v1/review/queue")).status_code == 403
    assert (await http.post("/v1/feedback", content=CLICK, headers=json_body)).status_code == 403
    wrong = {CSRF_HEADER: "0" * 64}
    assert (await http.get("/v1/review/queue", headers=wrong)).status_code == 403
    mine = {CSRF_HEADER: csrf}
    assert (await http.get("/v1/review/queue", headers=mine)).status_code == 200
    foreign = mine | json_body | {"Origin": "https://evil.example"}
    refused = await http.post("/v1/feedback", content=CLICK, headers=foreign)
    assert refused.status_code == 403
    assert "cross-origin" in refused.json()["error"]
    same = mine | json_body | {"Origin": BASE}
    assert (await http.post("/v1/feedback", content=CLICK, headers=same)).status_code == 202
    # a login posted from another site is refused too (login CSRF)
    cross = await http.post(
        "/review/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    # a bearer token is no ambient credential: a script may call from anywhere
    script = BEARER | json_body | {"Origin": "https://ci.example"}
    http.cookies = httpx.Cookies()
    assert (await http.post("/v1/feedback", content=CLICK, headers=script)).status_code == 202


async def test_a_body_over_the_limit_is_refused_with_413() -> None:
    recorded = Recorded()
    async with client_for(HttpLimits(max_body_bytes=200, burst=100), recorded) as http:
        padded = CLICK[:-1] + b', "padding": "' + b"x" * 300 + b'"}'
        reply = await http.post("/v1/feedback", content=padded, headers=BEARER)
        assert reply.status_code == 413
        assert "PILLARS_FEEDBACK_MAX_BODY_BYTES" in reply.json()["error"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as read
            for _ in range(10):
                yield b" " * 50

        streamed = await http.post("/v1/feedback", content=chunks(), headers=BEARER)
        assert streamed.status_code == 413
        assert (await http.post("/v1/feedback", content=CLICK, headers=BEARER)).status_code == 202
    assert [f.feedback_id for f in recorded.submitted] == ["f1"]


async def test_each_token_is_rate_limited_with_429_and_retry_after() -> None:
    async with client_for(HttpLimits(rate_per_s=0.5, burst=3), Recorded()) as http:
        codes = [(await http.get("/v1/review/queue", headers=BEARER)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = await http.get("/v1/review/queue", headers=BEARER)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        # guessing tokens at the login form is limited per client address as well
        logins = [
            (await http.post("/review/login", data={"token": f"g{i}"})).status_code
            for i in range(4)
        ]
        assert logins == [401, 401, 401, 429]


async def test_pages_carry_a_policy_that_allows_only_their_own_script_and_style(
    http: httpx.AsyncClient,
) -> None:
    await logged_in(http)
    page = await http.get("/review")
    policy = page.headers["content-security-policy"]
    [script] = re.findall(r"<script>(.*?)</script>", page.text, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    api = await http.get("/v1/review/queue", headers=BEARER)
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    assert api.headers["x-frame-options"] == "DENY"

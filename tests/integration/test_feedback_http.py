"""The feedback service's HTTP API and review page, as a real process over the real broker
and database, with the page driven in a real headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import Page, async_playwright

from shared.contracts.events import Event, ModelRef, Outcome, Prediction, RetrievedChunk, utcnow
from shared.contracts.topics import Topic, dlq_name, topic_name
from shared.kit.settings import cache_dir
from shared.kit.topic_admin import ensure_topics
from shared.platform.client import PillarsClient
from shared.platform.runtime.host import free_port
from shared.platform.runtime.stack import Endpoints
from tests.browser import chromium_executable, launch_args

pytestmark = pytest.mark.evaluation

TOKEN = "s3cret-review-token"
MODEL = ModelRef(name="extractive-best-passage", version="1")


@dataclass
class FeedbackService:
    url: str
    prefix: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def feedback_service(endpoints: Endpoints, tmp_path: Path) -> Iterator[FeedbackService]:
    prefix = f"fb{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(endpoints.kafka_bootstrap_servers, prefix, partitions=1))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PILLARS_", "OTEL_"))} | {
        "PILLARS_KAFKA_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap_servers,
        "PILLARS_DATABASE_URL": endpoints.database_url,
        "PILLARS_TOPIC_PREFIX": prefix,
        "PILLARS_DATA_DIR": str(tmp_path),
        "PILLARS_FEEDBACK_HTTP_PORT": str(port),
        "PILLARS_FEEDBACK_TOKENS": json.dumps([TOKEN]),
        "PILLARS_FEEDBACK_WAIT_S": "1",
        "PILLARS_FEEDBACK_PARK_S": "4",
        "PILLARS_REVIEW_SAMPLE_RATE": "0",
        "PILLARS_REVIEW_CONFIDENCE_BELOW": "0.5",
    }
    log = tmp_path / "feedback.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.feedback"], env=env, stdout=sink, stderr=sink
        )
    service = FeedbackService(f"http://127.0.0.1:{port}", prefix, process, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if call(service, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        yield service
    finally:
        process.terminate()
        process.wait(30)


def call(
    service: FeedbackService,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(service.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def prediction(tenant: str, request_id: str, score: float) -> Prediction:
    return Prediction(
        tenant=tenant,
        request_id=request_id,
        query="How do I read a CSV file?",
        experiment="retrieval-mode",
        variant="top3",
        answer="Use csv.reader over an open file.",
        sources=[
            RetrievedChunk(
                chunk_id=uuid.uuid4(),
                document_id="csv",
                title="csv — CSV File Reading and Writing",
                text="The csv module's reader objects iterate over lines of a file.",
                score=score,
            )
        ],
        model=MODEL,
        embedding_model=MODEL,
        request_occurred_at=utcnow(),
        stages=[],
    )


@pytest.fixture
async def client(
    endpoints: Endpoints, feedback_service: FeedbackService
) -> AsyncIterator[PillarsClient]:
    async with PillarsClient(
        endpoints.kafka_bootstrap_servers, prefix=feedback_service.prefix, source="/tests"
    ) as client:
        yield client


async def queued(service: FeedbackService, request_id: str) -> bool:
    status, body = await asyncio.to_thread(call, service, "GET", "/v1/review/queue", None, TOKEN)
    assert status == 200, body
    return any(item["request_id"] == request_id for item in body["items"])


async def test_http_feedback_is_authenticated_validated_and_joined(
    feedback_service: FeedbackService, client: PillarsClient, tenant: str, endpoints: Endpoints
) -> None:
    service = feedback_service
    await client.publish(Topic.PREDICTIONS, prediction(tenant, "r1", 0.9))
    click = {"tenant": tenant, "feedback_id": "f1", "request_id": "r1", "kind": "click"}
    body = json.dumps(click).encode()

    assert call(service, "POST", "/v1/feedback", body)[0] == 401
    status, refused = call(service, "POST", "/v1/feedback", body, token="wrong")
    assert (status, refused["error"]) == (401, "unknown token")
    assert call(service, "POST", "/v1/feedback", b"{not json", token=TOKEN)[0] == 400
    bad = json.dumps(click | {"kind": "rating", "value": 9}).encode()
    status, invalid = call(service, "POST", "/v1/feedback", bad, token=TOKEN)
    assert status == 422
    assert "a number from 1 to 5" in json.dumps(invalid["details"])

    outcomes = await client.watch(Topic.OUTCOMES)
    try:
        status, accepted = call(service, "POST", "/v1/feedback", body, token=TOKEN)
        assert (status, accepted) == (202, {"status": "accepted", "feedback_id": "f1"})
        events = await outcomes.collect(lambda evs: any(is_outcome(e, tenant) for e in evs), 60)
    finally:
        await outcomes.stop()
    [outcome] = [e for e in events if is_outcome(e, tenant)]
    assert (outcome.kind, outcome.variant, outcome.request_id) == ("click", "top3", "r1")

    # Feedback ahead of its prediction (past the wait) is parked, and joined once the
    # prediction comes; here 3 s late.
    outcomes = await client.watch(Topic.OUTCOMES)
    try:
        early = json.dumps(click | {"feedback_id": "f3", "request_id": "r3"}).encode()
        assert call(service, "POST", "/v1/feedback", early, token=TOKEN)[0] == 202
        await asyncio.sleep(3)
        await client.publish(Topic.PREDICTIONS, prediction(tenant, "r3", 0.9))
        events = await outcomes.collect(
            lambda evs: any(isinstance(e, Outcome) and e.request_id == "r3" for e in evs), 60
        )
    finally:
        await outcomes.stop()
    late = [e for e in events if isinstance(e, Outcome) and e.tenant == tenant]
    assert [e.feedback_id for e in late if e.request_id == "r3"] == ["f3"]

    # Feedback on a prediction that never comes goes to the DLQ with the reason, once it
    # has been parked for PILLARS_FEEDBACK_PARK_S.
    dlq = AIOKafkaConsumer(
        dlq_name(topic_name(Topic.FEEDBACK, service.prefix)),
        bootstrap_servers=endpoints.kafka_bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await dlq.start()
    try:
        orphan = json.dumps(click | {"feedback_id": "f2", "request_id": "nope"}).encode()
        assert call(service, "POST", "/v1/feedback", orphan, token=TOKEN)[0] == 202
        record = await asyncio.wait_for(dlq.getone(), 60)
    finally:
        await dlq.stop()
    reason = dict(record.headers)["pillars_dlq_reason"].decode()
    assert "no prediction for request 'nope'" in reason


async def log_in(page: Page, service: FeedbackService) -> None:
    """Open the review page, which asks for a token first, and log in with it."""
    reply = await page.goto(f"{service.url}/review")
    assert reply is not None
    assert reply.status == 401  # no queue before a login
    await page.fill("#token", TOKEN)
    async with page.expect_navigation() as navigation:
        await page.click("#use-token")
    landed = await navigation.value
    assert landed is not None
    assert (landed.url, landed.status) == (f"{service.url}/review", 200), await page.content()


def is_outcome(event: Event, tenant: str, kind: str = "click") -> bool:
    return isinstance(event, Outcome) and event.tenant == tenant and event.kind == kind


async def test_reviewer_records_a_verdict_in_a_real_browser(
    feedback_service: FeedbackService, client: PillarsClient, tenant: str
) -> None:
    service = feedback_service
    await client.publish(Topic.PREDICTIONS, prediction(tenant, "unsure", 0.31))
    await client.publish(Topic.PREDICTIONS, prediction(tenant, "sure", 0.92))
    deadline = time.monotonic() + 60
    while not await queued(service, "unsure"):
        assert time.monotonic() < deadline, service.log.read_text()[-3000:]
        await asyncio.sleep(0.5)
    assert not await queued(service, "sure")  # confident, and no random sample (rate 0)

    executable = await asyncio.to_thread(chromium_executable, cache_dir() / "chromium")
    outcomes = await client.watch(Topic.OUTCOMES)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(executable), headless=True, args=launch_args()
            )
            try:
                page = await browser.new_page()
                await log_in(page, service)
                item = page.locator(f'article[data-request-id="unsure"][data-tenant="{tenant}"]')
                await item.wait_for(timeout=15_000)
                assert await item.locator(".query").inner_text() == "How do I read a CSV file?"
                assert "csv.reader" in await item.locator(".answer").inner_text()
                assert await item.locator(".score").first.inner_text() == "0.310"
                assert "reader objects iterate" in await item.locator(".passage").first.inner_text()
                assert "low confidence" in await item.locator(".reason").inner_text()
                await item.locator('input[value="incorrect"]').check()
                await item.locator('select[name="relevance"]').select_option("2")
                await item.locator('textarea[name="correction"]').fill("Use csv.DictReader.")
                await item.locator('button[type="submit"]').click()
                status = item.locator(".status")
                await status.filter(has_text="Recorded").wait_for(timeout=15_000)
            finally:
                await browser.close()
        events = await outcomes.collect(
            lambda evs: any(is_outcome(e, tenant, "review") for e in evs), 60
        )
    finally:
        await outcomes.stop()
    [review] = [e for e in events if is_outcome(e, tenant, "review")]
    assert review.request_id == "unsure"
    assert review.review is not None
    assert (review.review.verdict, review.review.relevance) == ("incorrect", 2)
    assert review.review.correction == "Use csv.DictReader."
    deadline = time.monotonic() + 30
    while await queued(service, "unsure"):  # the verdict takes it off the queue
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)


HOSTILE = (
    '<script>window.__pwned = "script"</script>'
    "<img src=x onerror=\"window.__pwned = 'img'; alert(1)\">"
)


@pytest.mark.security
async def test_hostile_text_in_the_review_queue_shows_as_text_and_nothing_runs(
    feedback_service: FeedbackService, client: PillarsClient, tenant: str
) -> None:
    service = feedback_service
    hostile = prediction(tenant, "hostile", 0.2)
    source = hostile.sources[0].model_copy(update={"title": HOSTILE, "text": "doc " + HOSTILE})
    hostile = hostile.model_copy(
        update={"query": "q " + HOSTILE, "answer": "a " + HOSTILE, "sources": [source]}
    )
    await client.publish(Topic.PREDICTIONS, hostile)
    deadline = time.monotonic() + 60
    while not await queued(service, "hostile"):
        assert time.monotonic() < deadline, service.log.read_text()[-3000:]
        await asyncio.sleep(0.5)

    executable = await asyncio.to_thread(chromium_executable, cache_dir() / "chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=launch_args()
        )
        try:
            page = await browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))
            violations: list[str] = []
            page.on(
                "console",
                lambda m: violations.append(m.text) if "Content Security" in m.text else None,
            )
            await log_in(page, service)
            item = page.locator(f'article[data-request-id="hostile"][data-tenant="{tenant}"]')
            await item.wait_for(timeout=15_000)
            # every field shows the markup as text, and none of it became an element
            assert await item.locator(".query").inner_text() == "q " + HOSTILE
            assert await item.locator(".answer").inner_text() == "a " + HOSTILE
            assert await item.locator(".passage").first.inner_text() == "doc " + HOSTILE
            assert HOSTILE in await item.locator(".sources .meta").first.inner_text()
            assert await page.locator("main img, main script").count() == 0
            # the page's own markup, were it ever to parse such text, would still not run it:
            # the policy forbids inline handlers and scripts that are not the page's own
            await page.evaluate(
                "html => { const d = document.createElement('div');"
                " d.innerHTML = html; document.body.append(d); }",
                HOSTILE,
            )
            await page.wait_for_timeout(500)  # time for an image error and a handler to fire
            assert await page.evaluate("window.__pwned") is None
            assert dialogs == []
            assert violations, "the policy reported no blocked handler"
        finally:
            await browser.close()

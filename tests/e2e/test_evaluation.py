"""Measuring success end to end: feedback over HTTP, per-arm metrics, `pillars report`."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shared.contracts.events import Evaluation, Event
from shared.contracts.topics import Topic
from shared.platform.client import PillarsClient
from shared.platform.demo import run_demo
from tests.e2e.conftest import FEEDBACK_TOKEN, RunningPlatform

pytestmark = pytest.mark.evaluation


def post(url: str, body: dict[str, object], token: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


async def test_feedback_becomes_arm_metrics_and_a_report(
    client: PillarsClient, tenant: str, platform: RunningPlatform, tmp_path: Path
) -> None:
    feedback_url = platform.endpoints.feedback_url
    assert feedback_url, "pillars up serves no feedback API"
    predictions = await run_demo(client, tenant=tenant, timeout_s=120)
    clicked = predictions[0]
    click = {
        "tenant": tenant,
        "feedback_id": f"click-{clicked.request_id}",
        "request_id": clicked.request_id,
        "kind": "click",
    }
    assert await asyncio.to_thread(post, f"{feedback_url}/v1/feedback", click, None) == 401

    def clicked_arm(events: list[Event]) -> bool:
        return any(
            isinstance(e, Evaluation)
            and e.kind == "arm_metrics"
            and e.variant == clicked.variant
            and e.metrics is not None
            and e.metrics.window == "sliding"
            and (e.metrics.ctr or 0) > 0
            for e in events
        )

    evaluations = await client.watch(Topic.EVALUATIONS)
    try:
        status = await asyncio.to_thread(post, f"{feedback_url}/v1/feedback", click, FEEDBACK_TOKEN)
        assert status == 202
        events = await evaluations.collect(
            lambda evs: (
                clicked_arm(evs)
                and any(isinstance(e, Evaluation) and e.kind == "ab_decision" for e in evs)
            ),
            90,
        )
    finally:
        await evaluations.stop()
    kinds = {e.kind for e in events if isinstance(e, Evaluation)}
    assert {"arm_metrics", "ab_decision"} <= kinds

    out = tmp_path / "report.html"
    result = await asyncio.to_thread(platform.cli, "report", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "experiment retrieval-mode" in result.stdout
    assert f"\n{clicked.variant} " in result.stdout
    assert "A/B (always-valid, against the control):" in result.stdout
    page = out.read_text()
    assert 'data-metric="ctr"' in page
    assert "<polyline" in page

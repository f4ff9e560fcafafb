"""Every consumer heartbeats at the setting's interval: a rebalance waits for the next one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.contracts.topics import CONSUMED_BY
from shared.kit.messaging import consumer_options
from shared.kit.settings import PillarsSettings


def test_every_consumer_heartbeats_at_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PillarsSettings().consumer_heartbeat_ms == 500
    monkeypatch.setenv("PILLARS_CONSUMER_HEARTBEAT_MS", "250")
    settings = PillarsSettings()
    beats = {
        consumer_options(settings, service, topic)["heartbeat_interval_ms"]
        for service, topics in CONSUMED_BY.items()
        for topic in topics
    }
    assert beats == {250}


@pytest.mark.parametrize("value", ["50", "3500"])
def test_a_heartbeat_the_session_timeout_cannot_hold_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PILLARS_CONSUMER_HEARTBEAT_MS", value)
    with pytest.raises(ValidationError):
        PillarsSettings()

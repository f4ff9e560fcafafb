"""The embedded broker's properties: where it listens and where it tells clients to go."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.kit.settings import PillarsSettings
from shared.platform.runtime.errors import RuntimeSetupError
from shared.platform.runtime.kafka_config import plaintext_listeners, server_properties
from shared.platform.runtime.stack import Stack


def test_a_broker_behind_a_proxy_advertises_the_proxy() -> None:
    listening = server_properties(9092, 9093, Path("/logs"))
    assert "advertised.listeners=PLAINTEXT://127.0.0.1:9092" in listening.splitlines()
    proxied = server_properties(
        9092, 9093, Path("/logs"), listeners=plaintext_listeners(9092, 9093, "127.0.0.1:7000")
    ).splitlines()
    assert "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in proxied
    assert "advertised.listeners=PLAINTEXT://127.0.0.1:7000" in proxied


def test_placing_the_broker_is_for_the_single_one(tmp_path: Path) -> None:
    settings = PillarsSettings(
        data_dir=tmp_path,
        dashboard="none",
        embedded_brokers=3,
        embedded_kafka_advertised="127.0.0.1:7000",
    )
    with pytest.raises(RuntimeSetupError, match="single embedded broker"):
        Stack(settings).start_infrastructure()


def test_an_advertised_address_is_host_and_port() -> None:
    with pytest.raises(ValueError, match="embedded_kafka_advertised"):
        PillarsSettings(embedded_kafka_advertised="127.0.0.1")

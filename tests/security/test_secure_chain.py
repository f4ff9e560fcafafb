"""The whole chain with Kafka security on (`pillars up --secure`): every service as its own
SCRAM principal over TLS with only the ACLs the topic map gives it, and `pillars demo`
(the CLI as the platform's admin) gets its documents indexed and its questions answered.
No plaintext listener is left to fall back on."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from shared.platform.runtime.host import accepts_connections
from tests.e2e.conftest import RunningPlatform, pillars_up

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def secure_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    env = {"PILLARS_DASHBOARD": "none", "PILLARS_SCALER_BACKEND": "dry-run"}
    with pillars_up(tmp_path_factory.mktemp("pillars-up-secure"), env, "--secure") as running:
        yield running


def test_the_whole_chain_answers_with_acls_on(secure_platform: RunningPlatform) -> None:
    result = secure_platform.cli("demo", "--timeout", "240", timeout_s=420)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    questions = result.stdout.count("\nQ: ")
    assert questions >= 3, result.stdout[-2000:]
    assert result.stdout.count("\nA: ") == questions, result.stdout[-2000:]
    recorded = json.loads((secure_platform.data_dir / "endpoints.json").read_text())
    assert accepts_connections(recorded["kafka_bootstrap_servers"].split(",")[0])
    logs = "".join(p.read_text() for p in (secure_platform.data_dir / "logs").glob("*.log"))
    assert "TopicAuthorizationFailed" not in logs
    assert "GroupAuthorizationFailed" not in logs

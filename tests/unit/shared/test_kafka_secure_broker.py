"""`pillars up --secure`'s broker configuration, without starting a broker."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shared.kit.settings import PillarsSettings
from shared.platform.acls import ADMIN, BUSINESS, principal_of
from shared.platform.cli.common import kafka_security_for
from shared.platform.runtime.errors import RuntimeSetupError
from shared.platform.runtime.kafka_config import server_properties
from shared.platform.runtime.kafka_secure import BrokerSecurity
from shared.platform.runtime.stack import Endpoints, Stack
from shared.platform.runtime.supervisor import SERVICES

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> BrokerSecurity:
    security = BrokerSecurity(tmp_path_factory.mktemp("data") / "secure")
    security.ensure()
    return security


def _properties(material: BrokerSecurity) -> dict[str, str]:
    text = server_properties(
        9093, 9094, Path("/data/logs"), listeners=material.listener_properties(9093, 9094)
    )
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_only_sasl_ssl_faces_clients_and_nobody_unnamed_gets_in(material: BrokerSecurity) -> None:
    props = _properties(material)
    assert props["listeners"] == "SECURE://127.0.0.1:9093,CONTROLLER://127.0.0.1:9094"
    assert props["advertised.listeners"] == "SECURE://127.0.0.1:9093"
    assert props["listener.security.protocol.map"] == "SECURE:SASL_SSL,CONTROLLER:SASL_PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == f"User:{ADMIN}"
    assert "PLAINTEXT://" not in props["listeners"]
    # The key and chain travel as one properties line each (Java reads \n back).
    assert props["ssl.keystore.key"].startswith("-----BEGIN PRIVATE KEY-----\\n")
    assert props["ssl.keystore.certificate.chain"].count("BEGIN CERTIFICATE") == 2


def test_every_principal_gets_scram_credentials_and_secrets_stay_private(
    material: BrokerSecurity,
) -> None:
    expected = {ADMIN, BUSINESS, *(principal_of(s) for s in SERVICES)}
    assert set(material.principals) == expected
    arguments = material.format_arguments()
    assert arguments.count("--add-scram") == len(expected)
    assert f"SCRAM-SHA-512=[name={ADMIN},password={material.password(ADMIN)}]" in arguments
    assert len({material.password(p) for p in expected}) == len(expected)
    for name in ("credentials.json", "broker.json"):
        mode = stat.S_IMODE((material.folder / name).stat().st_mode)
        assert mode == 0o600, name
    before = material.password(ADMIN)
    material.ensure()  # a restart keeps the credentials the storage was formatted with
    assert material.password(ADMIN) == before


def test_each_service_runs_as_its_own_principal(tmp_path: Path) -> None:
    stack = Stack(PillarsSettings(data_dir=tmp_path), secure=True)
    assert stack.broker_security is not None
    stack.broker_security.ensure()
    env = stack.service_security_env()
    assert set(env) == set(SERVICES)
    for service, own in env.items():
        assert own["PILLARS_KAFKA_SASL_USERNAME"] == principal_of(service)
        assert own["PILLARS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert stack.kafka_admin.kafka_sasl_username == ADMIN
    assert Stack(PillarsSettings(data_dir=tmp_path)).service_security_env() == {}


@pytest.mark.parametrize(
    "settings",
    [{"embedded_brokers": 3}, {"kafka_bootstrap_servers": "kafka.example:9092"}],
)
def test_secure_refuses_what_it_cannot_secure_in_one_line(
    tmp_path: Path, settings: dict[str, object]
) -> None:
    stack = Stack(PillarsSettings(data_dir=tmp_path, dashboard="none", **settings), secure=True)  # type: ignore[arg-type]
    with pytest.raises(RuntimeSetupError, match=r"^--secure secures the single embedded broker"):
        stack.start_infrastructure()


def test_the_cli_connects_as_the_recorded_admin_unless_told_otherwise(
    material: BrokerSecurity, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints = Endpoints(
        "127.0.0.1:9093", "postgresql://x", kafka_security=material.client_env(ADMIN)
    )
    recorded = kafka_security_for(PillarsSettings(), endpoints)
    assert recorded.kafka_security_protocol == "SASL_SSL"
    assert recorded.kafka_sasl_username == ADMIN
    assert material.password(ADMIN) not in repr(endpoints)
    monkeypatch.setenv("PILLARS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    assert kafka_security_for(PillarsSettings(), endpoints).kafka_security_protocol == "PLAINTEXT"

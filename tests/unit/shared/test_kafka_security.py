"""Kafka client security settings: each misconfiguration is one clear line at start, and a
good configuration becomes the aiokafka/FastStream arguments (shared/kit/kafka_security.py)."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import pytest
from faststream.security import SASLOAuthBearer, SASLScram512
from pydantic import ValidationError

from shared.kit.kafka_security import (
    TokenFromCommand,
    TokenFromFile,
    broker_security,
    kafka_client_options,
)
from shared.kit.settings import PillarsSettings, settings_problem
from shared.platform.runtime.kafka_secure import BrokerSecurity

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> BrokerSecurity:
    security = BrokerSecurity(tmp_path_factory.mktemp("secure"))
    security.ensure()
    return security


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> PillarsSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return PillarsSettings()


def _problem(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        PillarsSettings()
    return settings_problem(caught.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"PILLARS_KAFKA_SECURITY_PROTOCOL": "SASL_TLS"},
            "PILLARS_KAFKA_SECURITY_PROTOCOL: 'SASL_TLS' is not one of PLAINTEXT, SSL, "
            "SASL_PLAINTEXT, SASL_SSL",
        ),
        (
            {"PILLARS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PILLARS_KAFKA_SASL_MECHANISM": "MD5"},
            "PILLARS_KAFKA_SASL_MECHANISM: 'MD5' is not one of",
        ),
        (
            {"PILLARS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "PILLARS_KAFKA_SASL_USERNAME": "u",
             "PILLARS_KAFKA_SASL_PASSWORD": "p"},
            "PILLARS_KAFKA_SASL_* is set but PILLARS_KAFKA_SECURITY_PROTOCOL is PLAINTEXT",
        ),
        (
            {"PILLARS_KAFKA_SECURITY_PROTOCOL": "SSL", "PILLARS_KAFKA_SASL_USERNAME": "u"},
            "PILLARS_KAFKA_SASL_* is set but PILLARS_KAFKA_SECURITY_PROTOCOL is SSL",
        ),
        (
            {"PILLARS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "PILLARS_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs PILLARS_KAFKA_SASL_MECHANISM",
        ),
        (
            {"PILLARS_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "PILLARS_KAFKA_SASL_MECHANISM": "plain",
             "PILLARS_KAFKA_SASL_USERNAME": "u"},
            "PILLARS_KAFKA_SASL_MECHANISM=PLAIN needs PILLARS_KAFKA_SASL_USERNAME and "
            "PILLARS_KAFKA_SASL_PASSWORD",
        ),
        (
            {"PILLARS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
             "PILLARS_KAFKA_SASL_MECHANISM": "OAUTHBEARER"},
            "OAUTHBEARER needs exactly one of PILLARS_KAFKA_SASL_OAUTHBEARER_TOKEN_FILE",
        ),
        (
            {"PILLARS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
             "PILLARS_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
             "PILLARS_KAFKA_SASL_OAUTHBEARER_TOKEN_FILE": "/nonexistent/token"},
            "PILLARS_KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: /nonexistent/token does not exist",
        ),
        (
            {"PILLARS_KAFKA_SECURITY_PROTOCOL": "SSL",
             "PILLARS_KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem"},
            "PILLARS_KAFKA_SSL_CA_LOCATION: /nonexistent/ca.pem does not exist",
        ),
        (
            {"PILLARS_KAFKA_SSL_CA_LOCATION": "/etc/hostname"},
            "PILLARS_KAFKA_SSL_CA_LOCATION is set but PILLARS_KAFKA_SECURITY_PROTOCOL is "
            "PLAINTEXT, which does not use TLS",
        ),
        (
            {"PILLARS_KAFKA_SECURITY_PROTOCOL": "SSL",
             "PILLARS_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM": "sometimes"},
            "PILLARS_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: 'sometimes' is not https",
        ),
    ],
)  # fmt: skip
def test_each_misconfiguration_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    problem = _problem(monkeypatch, env)
    assert "\n" not in problem
    assert problem.startswith("invalid settings: PILLARS_KAFKA_")
    assert expected in problem


def test_a_file_that_is_no_certificate_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    env = {"PILLARS_KAFKA_SECURITY_PROTOCOL": "SSL", "PILLARS_KAFKA_SSL_CA_LOCATION": str(bogus)}
    problem = _problem(monkeypatch, env)
    assert "\n" not in problem
    assert "PILLARS_KAFKA_SSL_CA_LOCATION: cannot be loaded" in problem


def test_mtls_needs_the_certificate_and_its_key(
    monkeypatch: pytest.MonkeyPatch, material: BrokerSecurity
) -> None:
    env = {
        "PILLARS_KAFKA_SECURITY_PROTOCOL": "SSL",
        "PILLARS_KAFKA_SSL_CERTIFICATE_LOCATION": str(material.ca_file),
    }
    assert "needs both PILLARS_KAFKA_SSL_CERTIFICATE_LOCATION and" in _problem(monkeypatch, env)


def test_the_password_is_never_in_the_settings_repr_nor_their_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "s3cret-Never-Logged"
    env = {
        "PILLARS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PILLARS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "PILLARS_KAFKA_SASL_USERNAME": "svc",
        "PILLARS_KAFKA_SASL_PASSWORD": secret,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = PillarsSettings()
    assert secret not in repr(settings)
    assert secret not in str(settings.model_dump())
    monkeypatch.setenv("PILLARS_KAFKA_SSL_CA_LOCATION", "/nonexistent")
    assert secret not in _problem(monkeypatch, {})


def test_managed_kafka_settings_become_client_arguments(
    monkeypatch: pytest.MonkeyPatch, material: BrokerSecurity
) -> None:
    settings = _settings(monkeypatch, material.client_env("pillars-embedding"))
    options = kafka_client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "pillars-embedding"
    assert options["sasl_plain_password"] == material.password("pillars-embedding")
    context: ssl.SSLContext = options["ssl_context"]
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert any("pillars embedded Kafka CA" in str(c["subject"]) for c in context.get_ca_certs())
    security, provider = broker_security(settings)
    assert isinstance(security, SASLScram512)
    assert security.use_ssl
    assert provider is None


def test_hostname_verification_is_on_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch, material: BrokerSecurity
) -> None:
    env = material.client_env("pillars-admin")
    env["PILLARS_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM"] = "none"
    options = kafka_client_options(_settings(monkeypatch, env))
    assert options["ssl_context"].check_hostname is False


def test_plaintext_stays_plaintext() -> None:
    assert kafka_client_options(PillarsSettings()) == {"security_protocol": "PLAINTEXT"}
    assert broker_security(PillarsSettings()) == (None, None)


async def test_oauthbearer_tokens_from_a_file_and_from_a_command(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJfile.token\n")
    settings = PillarsSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_sasl_oauthbearer_token_file=token_file,
    )
    security, provider = broker_security(settings)
    assert isinstance(security, SASLOAuthBearer)
    assert isinstance(provider, TokenFromFile)
    assert await provider.token() == "eyJfile.token"
    token_file.write_text("eyJrefreshed\n")  # a sidecar refreshed it: read again
    assert await provider.token() == "eyJrefreshed"
    command = TokenFromCommand(f"{sys.executable} -c \"print('eyJcommand')\"")
    assert await command.token() == "eyJcommand"
    failing = TokenFromCommand(f'{sys.executable} -c "import sys; sys.exit(3)"')
    with pytest.raises(RuntimeError, match=r"TOKEN_COMMAND .* exited 3 and printed nothing"):
        await failing.token()

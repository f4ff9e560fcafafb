"""How every Kafka client of pillars authenticates and encrypts: the settings, checked at
start, and the one place that turns them into aiokafka's and FastStream's arguments.

Named after the Kafka client settings users know (`security.protocol`, `sasl.mechanism`,
`ssl.ca.location`...), read from `PILLARS_KAFKA_*`. Passwords are `SecretStr`: their value
is read only here, when a client is built, and never logged.
"""

from __future__ import annotations

import asyncio
import shlex
import ssl
from pathlib import Path
from typing import Any, Literal, Self, get_args

from aiokafka.abc import AbstractTokenProvider
from aiokafka.helpers import create_ssl_context
from faststream.security import (
    BaseSecurity,
    SASLOAuthBearer,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "KafkaSecuritySettings",
    "TokenFromCommand",
    "TokenFromFile",
    "broker_security",
    "kafka_client_options",
    "tls_context",
]

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
_TLS = ("SSL", "SASL_SSL")
_SASL = ("SASL_PLAINTEXT", "SASL_SSL")


def _one_of(setting: str, value: object, allowed: tuple[str, ...]) -> object:
    if isinstance(value, str) and value.strip().upper() in allowed:
        return value.strip().upper()
    raise ValueError(f"{setting}: {value!r} is not one of {', '.join(allowed)}")


class KafkaSecuritySettings(BaseSettings):
    """How the Kafka clients connect: plain (the default), TLS, SASL, or both."""

    model_config = SettingsConfigDict(env_prefix="PILLARS_", extra="ignore")

    kafka_security_protocol: Protocol = Field(
        default="PLAINTEXT",
        description="`security.protocol`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL "
        "(what managed Kafka services ask for).",
    )
    kafka_sasl_mechanism: Mechanism | None = Field(
        default=None,
        description="`sasl.mechanism`: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.",
    )
    kafka_sasl_username: str | None = Field(default=None, description="`sasl.username`.")
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="`sasl.password` (never logged)."
    )
    kafka_sasl_oauthbearer_token_file: Path | None = Field(
        default=None,
        description="OAUTHBEARER: a file holding the access token, read again at each "
        "(re)authentication, so a sidecar can refresh it.",
    )
    kafka_sasl_oauthbearer_token_command: str | None = Field(
        default=None,
        description="OAUTHBEARER: a command that prints an access token (run without a "
        "shell at each authentication).",
    )
    kafka_ssl_ca_location: Path | None = Field(
        default=None,
        description="`ssl.ca.location`: PEM file of the CA(s) the brokers' certificates "
        "chain to; unset = the system's CAs.",
    )
    kafka_ssl_certificate_location: Path | None = Field(
        default=None, description="`ssl.certificate.location`: client certificate (mTLS), PEM."
    )
    kafka_ssl_key_location: Path | None = Field(
        default=None, description="`ssl.key.location`: the client certificate's key, PEM."
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="`ssl.key.password`, if that key is encrypted."
    )
    kafka_ssl_endpoint_identification_algorithm: Literal["https", "none"] = Field(
        default="https",
        description="`ssl.endpoint.identification.algorithm`: `https` checks that the "
        "broker's certificate names the host connected to; `none` turns that off.",
    )

    @field_validator("kafka_security_protocol", mode="before")
    @classmethod
    def _known_protocol(cls, value: object) -> object:
        return _one_of("PILLARS_KAFKA_SECURITY_PROTOCOL", value, get_args(Protocol))

    @field_validator("kafka_sasl_mechanism", mode="before")
    @classmethod
    def _known_mechanism(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _one_of("PILLARS_KAFKA_SASL_MECHANISM", value, get_args(Mechanism))

    @field_validator("kafka_ssl_endpoint_identification_algorithm", mode="before")
    @classmethod
    def _known_algorithm(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("https", "none", ""):
            return value.strip().lower() or "none"
        raise ValueError(
            f"PILLARS_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: {value!r} is not https or none"
        )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Refuse, with one line naming the settings, what could not connect (or would leak)."""
        problem = _sasl_problem(self) or _tls_problem(self)
        if problem:
            raise ValueError(problem)
        return self


def _sasl_problem(s: KafkaSecuritySettings) -> str | None:
    protocol, mechanism = s.kafka_security_protocol, s.kafka_sasl_mechanism
    credentials = s.kafka_sasl_username or s.kafka_sasl_password
    token = s.kafka_sasl_oauthbearer_token_file or s.kafka_sasl_oauthbearer_token_command
    if protocol not in _SASL:
        if mechanism or credentials or token:
            # Credentials on a connection without SASL would silently not authenticate; sent
            # in clear they must be asked for by name.
            return (
                f"PILLARS_KAFKA_SASL_* is set but PILLARS_KAFKA_SECURITY_PROTOCOL is {protocol}: "
                "use SASL_SSL (or SASL_PLAINTEXT to send them unencrypted, knowingly)"
            )
        return None
    if mechanism is None:
        return f"PILLARS_KAFKA_SECURITY_PROTOCOL={protocol} needs PILLARS_KAFKA_SASL_MECHANISM"
    if mechanism == "OAUTHBEARER":
        tokens = [s.kafka_sasl_oauthbearer_token_file, s.kafka_sasl_oauthbearer_token_command]
        if sum(t is not None for t in tokens) != 1:
            return (
                "PILLARS_KAFKA_SASL_MECHANISM=OAUTHBEARER needs exactly one of "
                "PILLARS_KAFKA_SASL_OAUTHBEARER_TOKEN_FILE and _TOKEN_COMMAND"
            )
        path = s.kafka_sasl_oauthbearer_token_file
        if path is not None and not path.is_file():
            return f"PILLARS_KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: {path} does not exist"
        return None
    if not s.kafka_sasl_username or s.kafka_sasl_password is None:
        return (
            f"PILLARS_KAFKA_SASL_MECHANISM={mechanism} needs PILLARS_KAFKA_SASL_USERNAME and "
            "PILLARS_KAFKA_SASL_PASSWORD"
        )
    return None


def _tls_problem(s: KafkaSecuritySettings) -> str | None:
    files = {
        "PILLARS_KAFKA_SSL_CA_LOCATION": s.kafka_ssl_ca_location,
        "PILLARS_KAFKA_SSL_CERTIFICATE_LOCATION": s.kafka_ssl_certificate_location,
        "PILLARS_KAFKA_SSL_KEY_LOCATION": s.kafka_ssl_key_location,
    }
    given = [name for name, path in files.items() if path is not None]
    if s.kafka_security_protocol not in _TLS:
        if given:
            return (
                f"{given[0]} is set but PILLARS_KAFKA_SECURITY_PROTOCOL is "
                f"{s.kafka_security_protocol}, which does not use TLS: use SSL or SASL_SSL"
            )
        return None
    for name, path in files.items():
        if path is not None and not path.is_file():
            return f"{name}: {path} does not exist"
    if (s.kafka_ssl_certificate_location is None) != (s.kafka_ssl_key_location is None):
        return (
            "mTLS needs both PILLARS_KAFKA_SSL_CERTIFICATE_LOCATION and "
            "PILLARS_KAFKA_SSL_KEY_LOCATION"
        )
    try:
        tls_context(s)
    except (ssl.SSLError, ValueError) as exc:
        return f"{', '.join(given) or 'TLS'}: cannot be loaded ({exc})"
    return None


def tls_context(s: KafkaSecuritySettings) -> ssl.SSLContext:
    """Return the TLS context: the CA file (else the system's), the client certificate for
    mTLS, the broker's host name checked unless the settings turn that off."""
    key_password = s.kafka_ssl_key_password
    context: ssl.SSLContext = create_ssl_context(
        cafile=s.kafka_ssl_ca_location,
        certfile=s.kafka_ssl_certificate_location,
        keyfile=s.kafka_ssl_key_location,
        password=key_password.get_secret_value() if key_password else None,
    )
    context.check_hostname = s.kafka_ssl_endpoint_identification_algorithm == "https"
    return context


class TokenFromFile(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka is untyped
    """An OAUTHBEARER token read from a file at each authentication (refreshed by others)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    async def token(self) -> str:
        """Return the file's token, stripped of surrounding whitespace."""
        token = (await asyncio.to_thread(self._path.read_text)).strip()
        if not token:
            raise RuntimeError(f"PILLARS_KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: {self._path} is empty")
        return token


class TokenFromCommand(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka is untyped
    """An OAUTHBEARER token printed by a command (e.g. a cloud CLI) at each authentication."""

    def __init__(self, command: str, timeout_s: float = 30.0) -> None:
        self._argv = shlex.split(command)
        self._timeout_s = timeout_s

    async def token(self) -> str:
        """Run the command and return what it printed; its error output is not repeated."""
        process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(self._timeout_s):
            out, _ = await process.communicate()
        token = out.decode().strip()
        if process.returncode != 0 or not token:
            raise RuntimeError(
                f"PILLARS_KAFKA_SASL_OAUTHBEARER_TOKEN_COMMAND ({self._argv[0]}) exited "
                f"{process.returncode} and printed {'a token' if token else 'nothing'}"
            )
        return token


def _token_provider(s: KafkaSecuritySettings) -> AbstractTokenProvider:
    if s.kafka_sasl_oauthbearer_token_file is not None:
        return TokenFromFile(s.kafka_sasl_oauthbearer_token_file)
    assert s.kafka_sasl_oauthbearer_token_command is not None  # the validator saw to it
    return TokenFromCommand(s.kafka_sasl_oauthbearer_token_command)


def kafka_client_options(s: KafkaSecuritySettings) -> dict[str, Any]:
    """Return the keyword arguments an aiokafka producer, consumer or admin client takes
    to connect as the settings say (nothing beyond the protocol for PLAINTEXT)."""
    protocol = s.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in _TLS:
        options["ssl_context"] = tls_context(s)
    if protocol in _SASL:
        options["sasl_mechanism"] = s.kafka_sasl_mechanism
        if s.kafka_sasl_mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = _token_provider(s)
        else:
            assert s.kafka_sasl_password is not None  # the validator saw to it
            options["sasl_plain_username"] = s.kafka_sasl_username
            options["sasl_plain_password"] = s.kafka_sasl_password.get_secret_value()
    return options


def broker_security(
    s: KafkaSecuritySettings,
) -> tuple[BaseSecurity | None, AbstractTokenProvider | None]:
    """Return FastStream's security object (it also documents the server in AsyncAPI) and
    the OAUTHBEARER token provider, both built from `kafka_client_options`."""
    options = kafka_client_options(s)
    context: ssl.SSLContext | None = options.get("ssl_context")
    use_ssl = context is not None
    mechanism = options.get("sasl_mechanism")
    if mechanism is None:
        return (BaseSecurity(context, use_ssl) if use_ssl else None), None
    if mechanism == "OAUTHBEARER":
        return SASLOAuthBearer(context, use_ssl), options["sasl_oauth_token_provider"]
    kind = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    user, password = options["sasl_plain_username"], options["sasl_plain_password"]
    return kind[mechanism](user, password, context, use_ssl), None

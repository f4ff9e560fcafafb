"""Settings every service shares, read from `PILLARS_*` environment variables."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.kit.kafka_security import KafkaSecuritySettings

__all__ = [
    "PillarsSettings",
    "bootstrap_list",
    "cache_dir",
    "default_data_dir",
    "settings_problem",
]

_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")


def _address(entry: str) -> str:
    """Return `entry` as `host:port`, or raise ValueError naming what is wrong with it."""
    host, sep, port = entry.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{entry!r} is not host:port (a port from 1 to 65535)")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{entry!r}: {host} is not an IPv6 address") from None
    elif not _HOST.match(host):
        raise ValueError(f"{entry!r}: {host!r} is not a host name or address")
    return f"{host}:{int(port)}"


def settings_problem(exc: ValidationError) -> str:
    """Return one line saying which settings are wrong and why (no stack trace)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(message if message.startswith("PILLARS_") else f"{where}: {message}")
    return f"invalid settings: {'; '.join(problems)}"


def bootstrap_list(servers: str | Sequence[str]) -> list[str]:
    """Return Kafka bootstrap addresses as a list of `host:port`.

    Takes what Kafka tools and managed services hand out, a comma-separated string
    (`b1:9092,b2:9092`), or a list; raises ValueError with one line naming the bad address.
    """
    entries = servers.split(",") if isinstance(servers, str) else list(servers)
    addresses = [_address(e.strip()) for e in entries if e.strip()]
    if not addresses:
        raise ValueError("no Kafka bootstrap address given")
    return addresses


def default_data_dir() -> Path:
    """Return the per-user data directory used when `PILLARS_DATA_DIR` is unset."""
    return platformdirs.user_data_path("pillars")


def cache_dir() -> Path:
    """Return the per-user cache of things derived from installed packages (jars, exports)."""
    return platformdirs.user_cache_path("pillars")


class PillarsSettings(KafkaSecuritySettings):
    """Infrastructure settings; unset Kafka/Postgres mean "start the embedded ones".

    How the Kafka clients authenticate and encrypt comes from `KafkaSecuritySettings`.
    """

    model_config = SettingsConfigDict(env_prefix="PILLARS_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Holds the embedded Kafka log, Postgres data and caches.",
    )
    kafka_bootstrap_servers: Annotated[str | None, NoDecode] = Field(
        default=None,
        description="External Kafka: one `host:port` or a comma-separated list, e.g. "
        "`b1:9092,b2:9092,b3:9092` (a list is accepted too); unset = embedded broker.",
    )
    database_url: str | None = Field(
        default=None,
        description="External Postgres with pgvector, `postgresql://user:pw@host/db`; "
        "unset = embedded.",
    )
    database_service_roles: bool = Field(
        default=True,
        description="Each service runs its queries as its own role `pillars_<service>` under "
        "row-level security (the login user creates the roles and owns the tables); "
        "false = as the login user, which the tenant policies do not bind.",
    )
    topic_prefix: str = Field(default="pillars", description="Topics are `<prefix>.<name>.v1`.")
    topic_partitions: int = Field(default=3, ge=1, description="Partitions of created topics.")
    request_consumers: int = Field(
        default=3,
        ge=1,
        description="Consumers an ingestion replica runs for `requests` and an inference "
        "replica for `requests.embedded`, each "
        "handling its share of the partitions in order, so handlers that wait overlap. With "
        "a local generator (one answer at a time a process) 1 lets the scaler add replicas "
        "up to the partitions instead.",
    )
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Of created topics (with an embedded cluster: its size, up to 3).",
    )
    topic_min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="`min.insync.replicas` of created topics; unset = the cluster's default "
        "(an embedded cluster: 2).",
    )
    topic_retention_ms: int | None = Field(
        default=None, ge=-1, description="`retention.ms` of event topics; unset = the cluster's."
    )
    dlq_retention_ms: int | None = Field(
        default=None,
        ge=-1,
        description="`retention.ms` of dead-letter topics; unset = the cluster's.",
    )
    embedded_brokers: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Nodes of the embedded Kafka `pillars up` starts: 1, or a KRaft cluster "
        "(3: every topic replicated 3 times, `min.insync.replicas` 2).",
    )
    embedded_kafka_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The port the single embedded broker listens on; unset = a free one, kept.",
    )
    embedded_kafka_advertised: str | None = Field(
        default=None,
        pattern=r"^[^\s:,]+:[0-9]{1,5}$",
        description="HOST:PORT the single embedded broker tells clients to reach it at, when "
        "that is not where it listens (a proxy or NAT in between); unset = where it listens.",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="The services' event loop: uvloop (libuv; Linux and macOS) takes about a "
        "tenth off each Kafka hop; asyncio's own loop is used where uvloop is not installed.",
    )
    embedding_model_path: str | None = Field(
        default=None,
        description="A sentence-transformers model folder; unset = the packaged all-MiniLM-L6-v2. "
        "Ingestion chunks with its tokenizer, embedding encodes with it.",
    )
    shutdown_grace_s: float = Field(
        default=15.0,
        gt=0,
        description="On stop or rebalance, how long in-flight messages may take to finish.",
    )
    dashboard: Literal["phoenix", "none"] = Field(
        default="phoenix",
        description="The trace UI `pillars up` starts and the services export to (Arize Phoenix); "
        "`none` starts none (the services then export only where `OTEL_*` says).",
    )
    dashboard_url: str | None = Field(
        default=None,
        description="Where `pillars trace` reads traces (a Phoenix); unset = the one "
        "`pillars up` started.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve Prometheus metrics at `:PORT/metrics`; unset = no endpoint, "
        "0 = any free port (what `pillars up` uses, one per replica).",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Where `/metrics` listens: loopback unless told otherwise (`0.0.0.0` in a "
        "container that Prometheus scrapes from outside).",
    )
    metrics_targets_dir: Path | None = Field(
        default=None,
        description="Write a Prometheus `file_sd_configs` entry for this process' endpoint here.",
    )
    consumer_heartbeat_ms: int = Field(
        default=500,
        ge=100,
        le=3000,
        description="How often a consumer heartbeats its group. A group rebalances (a replica "
        "joins or leaves) only once every member has heard of it at its next heartbeat, and "
        "meanwhile none fetches: at Kafka's 3000 ms that wait stalled the request path.",
    )
    retry_backoff_s: float = Field(
        default=1.0,
        gt=0,
        description="Wait before a message that hit a transient error is retried.",
    )
    exactly_once: bool = Field(
        default=False,
        description="Each consume -> produce hop in one Kafka transaction: its outputs and its "
        "input offset commit together, and every consumer reads `read_committed`, so a crash "
        "never repeats an output (`shared.kit.transactions`). Off: at-least-once, effects "
        "idempotent; on costs each hop a transaction commit (see the README's figures).",
    )

    @field_validator("kafka_bootstrap_servers", mode="before")
    @classmethod
    def _one_bootstrap_form(cls, value: object) -> object:
        """Normalise a comma-separated string or a list to `host:port,host:port`."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str | list | tuple):
            try:
                return ",".join(bootstrap_list(value))
            except ValueError as exc:
                raise ValueError(f"PILLARS_KAFKA_BOOTSTRAP_SERVERS: {exc}") from None
        return value

    @property
    def bootstrap_servers(self) -> list[str]:
        """Return the Kafka bootstrap addresses, or fail naming the setting."""
        if not self.kafka_bootstrap_servers:
            raise RuntimeError(
                "PILLARS_KAFKA_BOOTSTRAP_SERVERS is not set: start the platform with "
                "`pillars up`, or point it at a Kafka broker."
            )
        return bootstrap_list(self.kafka_bootstrap_servers)

    def database_service(self, service: str) -> str | None:
        """Return `service` when its queries run as its own role, else None (the owner's)."""
        return service if self.database_service_roles else None

    @property
    def dsn(self) -> str:
        """Return the Postgres URL, or fail naming the setting."""
        if not self.database_url:
            raise RuntimeError(
                "PILLARS_DATABASE_URL is not set: start the platform with `pillars up`, "
                "or point it at a Postgres with pgvector."
            )
        return self.database_url

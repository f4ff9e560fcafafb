"""The local platform: embedded (or external) Kafka and Postgres, topics, then the services."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from shared.contracts.topics import all_consumer_groups
from shared.kit.kafka_admin import wait_for_members
from shared.kit.kafka_security import KafkaSecuritySettings
from shared.kit.settings import PillarsSettings, cache_dir
from shared.kit.topic_admin import reconcile_topics, specs_from
from shared.platform.acls import ADMIN, platform_acls, principal_of
from shared.platform.runtime.control import ControlServer
from shared.platform.runtime.dashboard import PhoenixDashboard
from shared.platform.runtime.errors import EmbeddedServer, RuntimeSetupError
from shared.platform.runtime.host import free_port
from shared.platform.runtime.kafka import EmbeddedKafka
from shared.platform.runtime.kafka_cluster import EmbeddedKafkaCluster
from shared.platform.runtime.kafka_jars import resolve_kafka_jars
from shared.platform.runtime.kafka_secure import BrokerSecurity, apply_acls
from shared.platform.runtime.keeper import InfrastructureKeeper
from shared.platform.runtime.postgres import EmbeddedPostgres
from shared.platform.runtime.supervisor import SERVICES, Supervisor, service_env

__all__ = ["Endpoints", "Stack", "read_endpoints"]

log = logging.getLogger(__name__)

ENDPOINTS_FILE = "endpoints.json"


@dataclass(frozen=True)
class Endpoints:
    """Where a running platform listens."""

    kafka_bootstrap_servers: str
    database_url: str
    dashboard_url: str | None = None
    feedback_url: str | None = None
    # A secure embedded broker's admin settings (`PILLARS_KAFKA_*`), for the CLI.
    kafka_security: dict[str, str] | None = field(default=None, repr=False)


def read_endpoints(settings: PillarsSettings) -> Endpoints:
    """Return where the platform listens: the settings, else what `pillars up` recorded."""
    if settings.kafka_bootstrap_servers and settings.database_url:
        return Endpoints(
            settings.kafka_bootstrap_servers, settings.database_url, settings.dashboard_url
        )
    path = settings.data_dir / ENDPOINTS_FILE
    if not path.exists():
        raise RuntimeError(
            f"no running platform found ({path} is missing): start it with `pillars up` "
            "in another terminal, or set PILLARS_KAFKA_BOOTSTRAP_SERVERS and "
            "PILLARS_DATABASE_URL."
        )
    recorded = json.loads(path.read_text())
    return Endpoints(
        settings.kafka_bootstrap_servers or recorded["kafka_bootstrap_servers"],
        settings.database_url or recorded["database_url"],
        settings.dashboard_url or recorded.get("dashboard_url"),
        recorded.get("feedback_url"),
        recorded.get("kafka_security"),
    )


@dataclass
class Stack:
    """Starts what the settings leave unset (embedded Kafka/Postgres), then topics and services."""

    settings: PillarsSettings
    kafka: EmbeddedKafka | EmbeddedKafkaCluster | None = None
    postgres: EmbeddedPostgres | None = None
    supervisor: Supervisor | None = None
    control: ControlServer | None = None
    dashboard: PhoenixDashboard | None = None
    feedback_token: str | None = None
    endpoints: Endpoints | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # `pillars up --secure`: the embedded broker on SASL_SSL with a principal per service.
    secure: bool = False

    @property
    def data_dir(self) -> Path:
        """Return the one folder that holds everything the platform stores."""
        return self.settings.data_dir

    def start_infrastructure(self) -> Endpoints:
        """Start embedded Kafka and Postgres unless external ones are configured; make topics.

        The trace dashboard starts alongside (it takes a while to import) unless it is off.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.dashboard == "phoenix":
            self.dashboard = PhoenixDashboard(self.data_dir / "phoenix")
            self.dashboard.launch()
        bootstrap = self.settings.kafka_bootstrap_servers
        if self.secure and (bootstrap or self.settings.embedded_brokers > 1):
            raise RuntimeSetupError(
                "--secure secures the single embedded broker; an external Kafka is secured "
                "with PILLARS_KAFKA_SECURITY_PROTOCOL and the PILLARS_KAFKA_SASL_*/SSL_* settings"
            )
        if not bootstrap:
            jars = resolve_kafka_jars(cache_dir() / "kafka-jars")
            brokers = self.settings.embedded_brokers
            placed = self.settings.embedded_kafka_port or self.settings.embedded_kafka_advertised
            if brokers > 1 and placed:
                raise RuntimeSetupError(
                    "PILLARS_EMBEDDED_KAFKA_PORT and PILLARS_EMBEDDED_KAFKA_ADVERTISED place the "
                    "single embedded broker; unset them for an embedded cluster"
                )
            self.kafka = (
                EmbeddedKafka(
                    self.data_dir / "kafka",
                    jars,
                    self.settings.embedded_kafka_port,
                    security=self.broker_security,
                    advertised=self.settings.embedded_kafka_advertised,
                )
                if brokers == 1
                else EmbeddedKafkaCluster(self.data_dir / f"kafka-cluster-{brokers}", jars, brokers)
            )
            bootstrap = self.kafka.start()
            if self.broker_security is not None:
                asyncio.run(
                    apply_acls(
                        bootstrap, platform_acls(self.settings.topic_prefix), self.kafka_admin
                    )
                )
        database_url = self.settings.database_url
        if not database_url:
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
            database_url = self.postgres.start()
        report = asyncio.run(
            reconcile_topics(
                bootstrap,
                specs_from(self.settings, self.replication_factor),
                security=self.kafka_admin,
            )
        )
        created = report.created
        if created:
            log.info("created %d topics", len(created))
        dashboard_url = self.dashboard.wait_ready() if self.dashboard else None
        admin_env = self.broker_security.client_env(ADMIN) if self.broker_security else None
        self.endpoints = Endpoints(bootstrap, database_url, dashboard_url, None, admin_env)
        self._record_endpoints()
        return self.endpoints

    @property
    def broker_security(self) -> BrokerSecurity | None:
        """Return the secure embedded broker's material (None unless `secure`)."""
        return BrokerSecurity(self.data_dir / "kafka" / "secure") if self.secure else None

    @property
    def kafka_admin(self) -> KafkaSecuritySettings:
        """Return how the platform itself connects: as the secure broker's admin, else as
        the settings say (an external Kafka's security settings)."""
        security = self.broker_security
        return security.client_settings(ADMIN) if security else self.settings

    def service_security_env(self) -> dict[str, dict[str, str]]:
        """Return each service's own principal's `PILLARS_KAFKA_*` (secure broker only)."""
        security = self.broker_security
        if security is None:
            return {}
        return {s: security.client_env(principal_of(s)) for s in SERVICES}

    def telemetry_env(self) -> dict[str, str]:
        """Return what the services need to export to the dashboard and serve metrics."""
        env = {
            # One metrics endpoint per replica on a free port, listed for file-based discovery.
            "PILLARS_METRICS_PORT": "0",
            "PILLARS_METRICS_TARGETS_DIR": str(self.data_dir / "prometheus-targets"),
            "OTEL_SEMCONV_STABILITY_OPT_IN": os.environ.get(
                "OTEL_SEMCONV_STABILITY_OPT_IN", "messaging/dup"
            ),
            "OTEL_BSP_SCHEDULE_DELAY": os.environ.get("OTEL_BSP_SCHEDULE_DELAY", "1000"),
        }
        if self.dashboard is not None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.dashboard.otlp_endpoint
        return env

    def feedback_env(self) -> dict[str, str]:
        """Return where the feedback API listens (one port its replicas share) and its token
        (generated unless PILLARS_FEEDBACK_TOKENS is set); the endpoints record its URL."""
        assert self.endpoints is not None, "start_infrastructure() first"
        port = os.environ.get("PILLARS_FEEDBACK_HTTP_PORT") or str(free_port())
        env = {"PILLARS_FEEDBACK_HTTP_PORT": port}
        if not os.environ.get("PILLARS_FEEDBACK_TOKENS"):
            self.feedback_token = secrets.token_urlsafe(24)
            env["PILLARS_FEEDBACK_TOKENS"] = json.dumps([self.feedback_token])
        self.endpoints = replace(self.endpoints, feedback_url=f"http://127.0.0.1:{port}")
        self._record_endpoints()
        return env

    def _record_endpoints(self) -> None:
        assert self.endpoints is not None
        path = self.data_dir / ENDPOINTS_FILE
        path.touch(mode=0o600)  # it may hold the secure broker's admin password
        path.write_text(json.dumps(asdict(self.endpoints), indent=2))

    def start_services(self, services: tuple[str, ...] = SERVICES) -> Supervisor:
        """Start one replica of each service against the running infrastructure."""
        assert self.endpoints is not None, "start_infrastructure() first"
        self.control = ControlServer(SERVICES)
        env = service_env(
            self.endpoints.kafka_bootstrap_servers,
            self.endpoints.database_url,
            {
                "PILLARS_DATA_DIR": str(self.data_dir),
                "PILLARS_SUPERVISOR_URL": self.control.url,
                **self.telemetry_env(),
                **(self.feedback_env() if "feedback" in services else {}),
                **self.extra_env,
            },
        )
        self.supervisor = Supervisor(
            env, self.data_dir / "logs", per_service=self.service_security_env()
        )
        self.control.start(self.supervisor)
        self.supervisor.start(services)
        return self.supervisor

    def wait_until_consuming(self, timeout_s: float = 300) -> None:
        """Wait until every service's consumer groups have a member (the model loads first)."""
        assert self.endpoints is not None, "start_infrastructure() first"
        assert self.supervisor is not None, "start_services() first"
        supervisor = self.supervisor

        def logs() -> str:
            return "\n".join(
                f"--- {p.name} ({'running' if p.alive else 'exited'})\n"
                f"{p.log_path.read_text(errors='replace')[-2000:]}"
                for p in supervisor.processes()
                if p.log_path.exists()
            )

        groups = all_consumer_groups(self.settings.topic_prefix)
        asyncio.run(
            wait_for_members(
                self.endpoints.kafka_bootstrap_servers,
                groups,
                logs,
                timeout_s,
                security=self.kafka_admin,
            )
        )

    @property
    def replication_factor(self) -> int:
        """Return the replication factor of created topics: the setting, or with an embedded
        cluster and no setting, the cluster's size up to 3."""
        if "topic_replication_factor" in self.settings.model_fields_set or self.kafka is None:
            return self.settings.topic_replication_factor
        return min(3, self.settings.embedded_brokers)

    def keeper(self) -> InfrastructureKeeper:
        """Return a keeper of the embedded broker(s) and Postgres this stack started."""
        servers: dict[str, EmbeddedServer] = {}
        if isinstance(self.kafka, EmbeddedKafkaCluster):
            for number, node in enumerate(self.kafka.nodes, start=1):
                servers[f"Kafka broker {number}"] = node
        elif self.kafka is not None:
            servers["the Kafka broker"] = self.kafka
        if self.postgres is not None:
            servers["Postgres"] = self.postgres
        return InfrastructureKeeper(servers)

    def stop(self) -> None:
        """Stop services first, then Postgres and Kafka; safe to call twice."""
        if self.control is not None:
            self.control.stop()
            self.control = None
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
        (self.data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None
        if self.dashboard is not None:
            self.dashboard.stop()
            self.dashboard = None

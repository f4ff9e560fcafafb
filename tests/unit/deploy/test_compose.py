"""compose/docker-compose.yml and the Dockerfile: valid, complete, and wired to the code."""

from __future__ import annotations

import importlib.resources
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from tests.unit.deploy.conftest import assert_cli_has

pytestmark = pytest.mark.observability


def _built(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the `- NAME=value` form
        env = dict(item.partition("=")[::2] for item in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendored / "compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose), key=lambda e: e.json_path)
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_every_pillars_service_runs_in_its_own_container(
    compose: dict[str, Any], pillars_services: list[str]
) -> None:
    assert len(pillars_services) == 7
    for name in pillars_services:
        assert name in compose["services"], f"compose lacks the {name} service"
        command = compose["services"][name]["command"]
        assert command == ["python", "-m", f"services.{name}"]


def test_every_built_service_uses_the_root_dockerfile(
    compose: dict[str, Any], compose_dir: Path, root: Path
) -> None:
    built = _built(compose)
    assert built
    for name, service in built.items():
        build = service["build"]
        context, dockerfile = (
            (build, "Dockerfile")
            if isinstance(build, str)
            else (build["context"], build.get("dockerfile", "Dockerfile"))
        )
        assert (compose_dir / context).resolve() == root, name
        assert (root / dockerfile).resolve() == root / "Dockerfile", name


def test_references_between_services_volumes_and_files_resolve(
    compose: dict[str, Any], compose_dir: Path
) -> None:
    services = compose["services"]
    volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        depends = service.get("depends_on", [])
        for other in depends if isinstance(depends, list) else depends.keys():
            assert other in services, f"{name} depends on unknown {other}"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (compose_dir / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in volumes, f"{name} mounts undeclared volume {source}"


def test_services_wait_for_their_topics_and_database(
    compose: dict[str, Any], pillars_services: list[str], root: Path
) -> None:
    services = compose["services"]
    for name in pillars_services:
        depends = services[name]["depends_on"]
        assert depends["topics"]["condition"] == "service_completed_successfully", name
        if "database_lifespan" in (root / "services" / name / "app.py").read_text():
            assert depends["postgres"]["condition"] == "service_healthy", name
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for infra in ("kafka", "postgres"):
        assert "healthcheck" in services[infra], f"{infra} needs a healthcheck to be waited on"


def test_topics_job_runs_the_clis_topic_creation(compose: dict[str, Any]) -> None:
    assert compose["services"]["topics"]["command"] == ["pillars", "topics"]
    assert_cli_has("topics")


def test_kafka_is_a_single_kraft_node_that_services_can_reach(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    advertised = env["KAFKA_ADVERTISED_LISTENERS"]
    for name, service in _built(compose).items():
        bootstrap = _env(service)["PILLARS_KAFKA_BOOTSTRAP_SERVERS"]
        host = bootstrap.split(":")[0]
        assert host in compose["services"], f"{name}: {bootstrap} is no compose service"
        assert f"://{bootstrap}" in advertised, f"{name}: kafka does not advertise {bootstrap}"
    from shared.contracts.topics import MAX_MESSAGE_BYTES

    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= MAX_MESSAGE_BYTES


def test_database_url_matches_the_pgvector_container(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("pgvector/pgvector:")
    pg = _env(postgres)
    for name, service in _built(compose).items():
        url = urlsplit(_env(service)["PILLARS_DATABASE_URL"])
        assert url.hostname in compose["services"], name
        assert url.port == 5432
        assert (url.username, url.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
        assert url.path.lstrip("/") == pg["POSTGRES_DB"]


def test_services_export_traces_to_the_collectors_otlp_http_receiver(
    compose: dict[str, Any], collector_config: dict[str, Any]
) -> None:
    http = collector_config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    receiver_port = int(http.rsplit(":", 1)[1])
    for name, service in _built(compose).items():
        env = _env(service)
        if name == "topics":
            continue
        endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert endpoint.hostname in compose["services"], name
        assert "opentelemetry-collector" in compose["services"][endpoint.hostname]["image"]
        assert endpoint.port == receiver_port, name
        assert env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf") == "http/protobuf"
        assert env["OTEL_SEMCONV_STABILITY_OPT_IN"] == "messaging/dup"
        assert env["PILLARS_METRICS_PORT"] == "9464"


def test_environment_names_only_settings_the_services_read(
    compose: dict[str, Any], settings_env_names: frozenset[str], otel_env_names: frozenset[str]
) -> None:
    for name, service in _built(compose).items():
        for variable in _env(service):
            if variable.startswith("PILLARS_"):
                assert variable in settings_env_names, f"{name}: no setting reads {variable}"
            else:
                assert variable in otel_env_names, f"{name}: {variable} is read by nobody"


def test_environment_values_are_valid_settings(
    compose: dict[str, Any],
    settings_classes: dict[str, type[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, cls in settings_classes.items():
        with monkeypatch.context() as patch:
            for variable, value in _env(compose["services"][name]).items():
                patch.setenv(variable, value)
            settings = cls()
        assert settings.bootstrap_servers
        assert settings.dsn
        assert settings.metrics_port == 9464


def test_scaler_only_decides_in_compose(
    compose: dict[str, Any], settings_classes: dict[str, type[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in _env(compose["services"]["scaler"]).items():
        monkeypatch.setenv(variable, value)
    assert settings_classes["scaler"]().scaler_backend == "dry-run"


def test_dockerfile_installs_the_locked_runtime_only(root: Path) -> None:
    text = (root / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert re.search(r"^COPY --from=ghcr\.io/astral-sh/uv:\S+ /uv ", text, re.MULTILINE)
    syncs = re.findall(r"uv sync[^\n]*", text)
    assert syncs
    for sync in syncs:
        assert "--frozen" in sync
        assert "--no-dev" in sync
        assert "--group" not in sync
        assert "--all-groups" not in sync
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users
    assert users[-1] not in ("root", "0")
    ignored = (root / ".dockerignore").read_text().split()
    assert ".venv" in ignored
    assert "tests" in ignored


def test_image_caches_land_in_a_writable_mounted_folder(
    dockerfile_env: dict[str, str],
    compose: dict[str, Any],
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache_home = dockerfile_env["XDG_CACHE_HOME"]
    monkeypatch.setenv("XDG_CACHE_HOME", cache_home)
    from shared.kit.settings import cache_dir

    assert cache_dir().is_relative_to(cache_home)
    chowns = re.findall(r"chown[^\n]*", (root / "Dockerfile").read_text())
    assert any(cache_home in line for line in chowns), f"{cache_home} is not made writable"
    targets = [m.split(":")[1] for m in compose["services"]["embedding"].get("volumes", [])]
    assert cache_home in targets, "the ONNX export would be redone on every restart"

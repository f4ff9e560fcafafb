"""What the deployment tests read: compose/, compose/k8s/, the Dockerfile and the settings."""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[3]
COMPOSE_DIR = ROOT / "compose"
K8S_DIR = COMPOSE_DIR / "k8s"


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def root() -> Path:
    """Return the repository root."""
    return ROOT


@pytest.fixture(scope="session")
def compose_dir() -> Path:
    """Return compose/, where compose paths are relative to."""
    return COMPOSE_DIR


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """Return compose/docker-compose.yml, anchors and merge keys resolved."""
    data: dict[str, Any] = _load_yaml(COMPOSE_DIR / "docker-compose.yml")
    return data


@pytest.fixture(scope="session")
def pillars_services() -> list[str]:
    """Return the services that `python -m services.<name>` runs."""
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/__main__.py"))


@pytest.fixture(scope="session")
def k8s_manifests() -> list[tuple[str, dict[str, Any]]]:
    """Return (file name, object) for every object in compose/k8s/ but the kustomization."""
    found = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


@pytest.fixture(scope="session")
def kustomization() -> dict[str, Any]:
    """Return compose/k8s/kustomization.yaml."""
    data: dict[str, Any] = _load_yaml(K8S_DIR / "kustomization.yaml")
    return data


@pytest.fixture(scope="session")
def collector_config() -> dict[str, Any]:
    """Return compose/otel-collector.yaml."""
    data: dict[str, Any] = _load_yaml(COMPOSE_DIR / "otel-collector.yaml")
    return data


@pytest.fixture(scope="session")
def prometheus_config() -> dict[str, Any]:
    """Return compose/prometheus.yml."""
    data: dict[str, Any] = _load_yaml(COMPOSE_DIR / "prometheus.yml")
    return data


@pytest.fixture(scope="session")
def settings_classes(pillars_services: list[str]) -> dict[str, type[Any]]:
    """Return each service's settings class: its config.py's, else the shared one."""
    from shared.kit.settings import PillarsSettings

    classes: dict[str, type[Any]] = {}
    for service in pillars_services:
        classes[service] = PillarsSettings
        if (ROOT / "services" / service / "config.py").exists():
            module = importlib.import_module(f"services.{service}.config")
            for value in vars(module).values():
                subclass = isinstance(value, type) and issubclass(value, PillarsSettings)
                if subclass and value is not PillarsSettings:
                    classes[service] = value
    return classes


@pytest.fixture(scope="session")
def settings_env_names(settings_classes: dict[str, type[Any]]) -> frozenset[str]:
    """Return every `PILLARS_*` variable some service's settings read."""
    names = set()
    for cls in settings_classes.values():
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias
            names.add(alias.upper() if isinstance(alias, str) else (prefix + field_name).upper())
    return frozenset(names)


@pytest.fixture(scope="session")
def otel_env_names() -> frozenset[str]:
    """Return the `OTEL_*` variables the OpenTelemetry SDK, exporter and instrumentation read."""
    import opentelemetry.instrumentation.environment_variables as instrumentation
    import opentelemetry.sdk.environment_variables as sdk

    return frozenset(
        value
        for module in (sdk, instrumentation)
        for name, value in vars(module).items()
        if name.startswith("OTEL_") and isinstance(value, str)
    ) | {"OTEL_SEMCONV_STABILITY_OPT_IN"}


@pytest.fixture(scope="session")
def dockerfile_env() -> dict[str, str]:
    """Return the variables the Dockerfile's ENV instructions set."""
    joined, instructions = "", []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        joined += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            instructions.append(joined.strip())
            joined = ""
    env = {}
    for instruction in instructions:
        if instruction.upper().startswith("ENV "):
            for pair in shlex.split(instruction[4:]):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def assert_cli_has(command: str) -> None:
    """Fail unless `pillars COMMAND` exists (its `--help` exits 0)."""
    from shared.platform.cli import main

    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0

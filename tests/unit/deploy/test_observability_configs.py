"""The collector, Prometheus and Grafana configs: coherent with each other and with the code."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

pytestmark = pytest.mark.observability
ROOT = Path(__file__).parents[3]

ALWAYS_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
PROMQL_WORDS |= {"and", "or", "unless", "inf", "nan"}
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def _series_labels(metrics: list[Any]) -> dict[str, set[str]]:
    """Return the series a Prometheus client exposes for `metrics`, with their labels."""
    series: dict[str, set[str]] = {}
    for metric in metrics:
        name, labels = metric._name, set(metric._labelnames)
        if metric._type == "counter":
            series[f"{name}_total"] = labels
        elif metric._type == "histogram":
            series[f"{name}_bucket"] = labels | {"le"}
            series[f"{name}_sum"] = series[f"{name}_count"] = labels
        else:
            series[name] = labels
    return series


@pytest.fixture(scope="module")
def known_series() -> dict[str, set[str]]:
    """Return every series pillars' processes expose: FastStream's and pillars' own."""
    from faststream.prometheus.container import MetricsContainer
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    container = MetricsContainer(CollectorRegistry(), custom_label_names=())
    faststream = [getattr(container, slot) for slot in MetricsContainer.__slots__]
    faststream = [m for m in faststream if isinstance(m, Counter | Gauge | Histogram)]
    modules = ["shared.kit.metrics"] + [
        f"services.{path.parent.name}.metrics"
        for path in sorted((ROOT / "services").glob("*/metrics.py"))
    ]
    own = [
        m
        for module in modules
        for m in vars(importlib.import_module(module)).values()
        if isinstance(m, Counter | Gauge | Histogram)
    ]
    assert len(faststream) == 9
    assert all(m._name.startswith("pillars_") for m in own)
    return _series_labels(faststream) | _series_labels(own)


@pytest.fixture(scope="module")
def dashboards(compose_dir: Path) -> dict[str, dict[str, Any]]:
    paths = sorted((compose_dir / "grafana" / "dashboards").glob("*.json"))
    assert paths
    return {p.name: json.loads(p.read_text()) for p in paths}


@pytest.fixture(scope="module")
def datasources(compose_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in (compose_dir / "grafana" / "provisioning" / "datasources").glob("*.yaml"):
        found += yaml.safe_load(path.read_text())["datasources"]
    return found


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _container_ports(service: dict[str, Any]) -> set[int]:
    published = {int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])}
    return published | {int(p) for p in service.get("expose", [])}


def test_collector_pipelines_use_only_defined_components(collector_config: dict[str, Any]) -> None:
    service = collector_config["service"]
    for extension in service.get("extensions", []):
        assert extension in collector_config["extensions"], extension
    assert "traces" in service["pipelines"]
    for name, pipeline in service["pipelines"].items():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                defined = set(collector_config.get(section) or {})
                defined |= set(collector_config.get("connectors") or {})
                assert component in defined, f"pipeline {name}: {section} {component} undefined"
    defined_but_unused = set(collector_config["exporters"]) - {
        e for p in service["pipelines"].values() for e in p["exporters"]
    }
    assert not defined_but_unused


def test_collector_sends_traces_to_jaeger_over_otlp(
    collector_config: dict[str, Any], compose: dict[str, Any]
) -> None:
    exporters = collector_config["service"]["pipelines"]["traces"]["exporters"]
    otlp = [e for e in exporters if e.split("/")[0] == "otlp"]
    assert otlp, "traces need an otlp exporter"
    for name in otlp:
        endpoint = collector_config["exporters"][name]["endpoint"]
        host = endpoint.split("://")[-1].rsplit(":", 1)[0]
        assert host in compose["services"], endpoint
        assert compose["services"][host]["image"].startswith("jaegertracing/jaeger:2.")
        assert _port(endpoint) == 4317  # Jaeger v2's OTLP/gRPC receiver


def test_collector_receivers_listen_beyond_localhost(collector_config: dict[str, Any]) -> None:
    for protocol in collector_config["receivers"]["otlp"]["protocols"].values():
        assert protocol["endpoint"].startswith("0.0.0.0:")


def _scrape_targets(job: dict[str, Any]) -> list[tuple[str, int]]:
    targets = []
    for static in job.get("static_configs", []):
        targets += [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in static["targets"]]
    for dns in job.get("dns_sd_configs", []):
        targets += [(name, int(dns["port"])) for name in dns["names"]]
    return targets


def test_prometheus_scrapes_every_service_where_it_serves_metrics(
    prometheus_config: dict[str, Any],
    compose: dict[str, Any],
    collector_config: dict[str, Any],
    pillars_services: list[str],
) -> None:
    jobs = prometheus_config["scrape_configs"]
    assert len({j["job_name"] for j in jobs}) == len(jobs)
    collector_metrics = collector_config["service"]["telemetry"]["metrics"]["readers"][0]
    collector_port = collector_metrics["pull"]["exporter"]["prometheus"]["port"]
    scraped = set()
    for job in jobs:
        for host, port in _scrape_targets(job):
            assert host in compose["services"], f"{job['job_name']}: {host} is no compose service"
            service = compose["services"][host]
            env = service.get("environment") or {}
            if host in pillars_services:
                assert port == int(env["PILLARS_METRICS_PORT"]), host
            elif "opentelemetry-collector" in service["image"]:
                assert port == collector_port
            else:
                assert port in _container_ports(service), f"{host}:{port}"
            scraped.add(host)
    assert set(pillars_services) <= scraped


def test_grafana_datasources_point_at_compose_services(
    datasources: list[dict[str, Any]], compose: dict[str, Any]
) -> None:
    assert {d["type"] for d in datasources} == {"prometheus", "jaeger"}
    for source in datasources:
        url = urlsplit(source["url"])
        assert url.hostname in compose["services"], source["name"]
        assert url.port in _container_ports(compose["services"][url.hostname]), source["url"]


def test_grafana_loads_the_provisioned_folders(compose: dict[str, Any], compose_dir: Path) -> None:
    mounts = dict(m.split(":")[:2] for m in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    providers = []
    for path in (compose_dir / "grafana" / "provisioning" / "dashboards").glob("*.yaml"):
        providers += yaml.safe_load(path.read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == [mounts["./grafana/dashboards"]]


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def _promql_names(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """Return the metrics of a query with the labels it matches on, and its grouping labels."""
    expr = re.sub(r"\$__\w+", "1m", re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr))
    grouping: set[str] = set()
    for clause in GROUPING.findall(expr):
        grouping |= {label.strip() for label in clause.split(",") if label.strip()}
    expr = GROUPING.sub(" ", expr)
    metrics: dict[str, set[str]] = {}
    for name, matchers in re.findall(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", expr):
        metrics[name] = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    for name in re.findall(r"(?<![\w.])([A-Za-z_:][\w:]*)\b(?!\s*\()", expr):
        if name.lower() not in PROMQL_WORDS:
            metrics.setdefault(name, set())
    return metrics, grouping


def test_dashboard_queries_use_only_metrics_the_services_expose(
    dashboards: dict[str, dict[str, Any]], known_series: dict[str, set[str]]
) -> None:
    for file, dashboard in dashboards.items():
        assert dashboard["panels"], file
        for expr in _queries(dashboard):
            metrics, grouping = _promql_names(expr)
            assert metrics, f"{file}: no metric in {expr}"
            for metric, matched in metrics.items():
                assert metric in known_series, f"{file}: unknown metric {metric} in {expr}"
                labels = known_series[metric] | ALWAYS_LABELS
                assert matched <= labels, f"{file}: {metric} has no {matched - labels}"
                assert grouping <= labels, f"{file}: {metric} has no {grouping - labels}"


def test_dashboards_reference_provisioned_datasources(
    dashboards: dict[str, dict[str, Any]], datasources: list[dict[str, Any]]
) -> None:
    uids = {d["uid"] for d in datasources}
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)
    for file, dashboard in dashboards.items():
        for panel in dashboard["panels"]:
            for holder in [panel, *panel.get("targets", [])]:
                if "datasource" in holder:
                    assert holder["datasource"]["uid"] in uids, f"{file}: {panel['title']}"


def test_dashboards_cover_throughput_lag_latency_and_ab(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    queries = {file: " ".join(_queries(d)) for file, d in dashboards.items()}
    everything = " ".join(queries.values())
    for needed in (
        "faststream_received_messages_total",
        "faststream_published_messages_total",
        "pillars_consumer_lag_messages",
        "pillars_desired_replicas",
        "pillars_current_replicas",
        "pillars_hop_latency_seconds_bucket",
        "faststream_received_processed_messages_duration_seconds_bucket",
        "pillars_predictions_total",
        'pillars_feedback_total{kind="click"}',
        "pillars_retrieval_relevance_sum",
        "pillars_prediction_latency_seconds_bucket",
    ):
        assert needed in everything, f"no dashboard shows {needed}"
    assert re.search(r"histogram_quantile\([^,]+,\s*sum by \([^)]*service, topic", everything)

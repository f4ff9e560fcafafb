"""compose/k8s/: valid Kubernetes objects, consistent with the scaler and the topic code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.unit.deploy.conftest import assert_cli_has

pytestmark = pytest.mark.observability

Manifests = list[tuple[str, dict[str, Any]]]
K8S_VERSION = kubernetes_validate.latest_version()
KEDA_FILE = "keda-scaledobject.yaml"
# Custom resources with no schema in kubernetes-validate, each checked by its own tests
# (Strimzi's KafkaUsers: tests/unit/shared/test_acls.py); both need an operator installed.
CRD_FILES = {KEDA_FILE, "strimzi-kafkausers.yaml"}


def _kind(manifests: Manifests, kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests if doc["kind"] == kind}


def _config(manifests: Manifests) -> dict[str, str]:
    [config] = _kind(manifests, "ConfigMap").values()
    data: dict[str, str] = config["data"]
    return data


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    [container] = workload["spec"]["template"]["spec"]["containers"]
    return container


def _env_values(manifests: Manifests, workload: dict[str, Any]) -> dict[str, str | None]:
    """Return the container's environment: the ConfigMaps it loads, then its own `env`."""
    container = _container(workload)
    configs = _kind(manifests, "ConfigMap")
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env.update(configs[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


@pytest.fixture(scope="module")
def scaler_defaults() -> Any:
    from services.scaler.config import ScalerSettings

    return ScalerSettings.model_construct()


def test_manifests_validate_against_the_kubernetes_schemas(k8s_manifests: Manifests) -> None:
    checked = 0
    for name, doc in k8s_manifests:
        if name in CRD_FILES:
            continue  # a CRD: no schema ships with kubernetes-validate; see their own tests
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
        checked += 1
    assert checked >= 15  # namespace, config, RBAC (3), topics job, 7 deployments + services


def test_kustomization_applies_every_manifest_but_keda(
    kustomization: dict[str, Any], root: Path
) -> None:
    k8s = root / "compose" / "k8s"
    expected = {p.name for p in k8s.glob("*.yaml")} - {"kustomization.yaml", *CRD_FILES}
    assert set(kustomization["resources"]) == expected


def test_everything_lives_in_the_scalers_namespace(
    k8s_manifests: Manifests, scaler_defaults: Any
) -> None:
    for name, doc in k8s_manifests:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == scaler_defaults.scaler_k8s_namespace
        else:
            assert doc["metadata"]["namespace"] == scaler_defaults.scaler_k8s_namespace, name


def test_one_deployment_and_metrics_service_per_pillars_service(
    k8s_manifests: Manifests, pillars_services: list[str], scaler_defaults: Any
) -> None:
    deployments = _kind(k8s_manifests, "Deployment")
    services = _kind(k8s_manifests, "Service")
    prefix = scaler_defaults.scaler_k8s_deployment_prefix
    assert set(deployments) == {prefix + s for s in pillars_services}
    for service in pillars_services:
        deployment = deployments[prefix + service]
        container = _container(deployment)
        assert container["command"] == ["python", "-m", f"services.{service}"]
        metrics_port = int(str(_env_values(k8s_manifests, deployment)["PILLARS_METRICS_PORT"]))
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == metrics_port
        pod = deployment["spec"]["template"]["metadata"]
        assert pod["annotations"]["prometheus.io/port"] == str(metrics_port)
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["labels"].items()
        [svc] = [s for s in services.values() if s["spec"]["selector"] == selector]
        [port] = svc["spec"]["ports"]
        assert port["targetPort"] in ("metrics", metrics_port)


def test_read_only_containers_get_writable_cache_data_and_tmp(
    k8s_manifests: Manifests, dockerfile_env: dict[str, str]
) -> None:
    needed = {dockerfile_env["XDG_CACHE_HOME"], dockerfile_env["PILLARS_DATA_DIR"], "/tmp"}
    for kind in ("Deployment", "Job"):
        for name, workload in _kind(k8s_manifests, kind).items():
            container = _container(workload)
            if not container["securityContext"].get("readOnlyRootFilesystem"):
                continue
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            if kind == "Job":  # creates topics, writes no cache
                assert "/tmp" in mounts, name
            else:
                assert needed <= mounts, f"{name} lacks writable {needed - mounts}"


def test_environment_names_only_settings_the_services_read(
    k8s_manifests: Manifests, settings_env_names: frozenset[str], otel_env_names: frozenset[str]
) -> None:
    names = set(_config(k8s_manifests))
    for kind in ("Deployment", "Job"):
        for workload in _kind(k8s_manifests, kind).values():
            names |= {item["name"] for item in _container(workload).get("env", [])}
    for variable in names:
        if variable.startswith("PILLARS_"):
            assert variable in settings_env_names, f"no setting reads {variable}"
        else:
            assert variable in otel_env_names, f"{variable} is read by nobody"
    config = _config(k8s_manifests)
    assert config["OTEL_SEMCONV_STABILITY_OPT_IN"] == "messaging/dup"
    assert config["PILLARS_METRICS_PORT"] == "9464"


def test_environment_values_are_valid_settings(
    k8s_manifests: Manifests,
    settings_classes: dict[str, type[Any]],
    scaler_defaults: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployments = _kind(k8s_manifests, "Deployment")
    for service, cls in settings_classes.items():
        deployment = deployments[scaler_defaults.scaler_k8s_deployment_prefix + service]
        with monkeypatch.context() as patch:
            for variable, value in _env_values(k8s_manifests, deployment).items():
                if value is not None:  # from a Secret or the downward API
                    patch.setenv(variable, value)
            settings = cls()
        assert settings.bootstrap_servers
        assert settings.metrics_port == 9464


def test_topics_job_runs_the_clis_topic_creation(k8s_manifests: Manifests) -> None:
    [job] = _kind(k8s_manifests, "Job").values()
    assert _container(job)["command"] == ["pillars", "topics"]
    assert_cli_has("topics")


def test_scaler_may_patch_the_scale_of_every_watched_deployment(
    k8s_manifests: Manifests, scaler_defaults: Any
) -> None:
    deployments = _kind(k8s_manifests, "Deployment")
    prefix = scaler_defaults.scaler_k8s_deployment_prefix
    scaler = deployments[prefix + "scaler"]
    env = _env_values(k8s_manifests, scaler)
    assert env["PILLARS_SCALER_BACKEND"] == "kubernetes"
    assert env.get("PILLARS_SCALER_K8S_DEPLOYMENT_PREFIX", prefix) == prefix
    for service in scaler_defaults.scaler_watch:
        watched = deployments[prefix + service]
        # A `replicas` here would undo the scaler's decision on every `kubectl apply`.
        assert "replicas" not in watched["spec"], prefix + service
    account = scaler["spec"]["template"]["spec"]["serviceAccountName"]
    assert account in _kind(k8s_manifests, "ServiceAccount")
    [binding] = [
        b
        for b in _kind(k8s_manifests, "RoleBinding").values()
        if {"kind": "ServiceAccount", "name": account}
        in [{"kind": s["kind"], "name": s["name"]} for s in b["subjects"]]
    ]
    role = _kind(k8s_manifests, "Role")[binding["roleRef"]["name"]]
    verbs = {
        verb
        for rule in role["rules"]
        if "apps" in rule["apiGroups"] and "deployments/scale" in rule["resources"]
        for verb in rule["verbs"]
    }
    assert {"get", "patch"} <= verbs


def test_keda_scaledobject_watches_what_embedding_consumes(
    k8s_manifests: Manifests, scaler_defaults: Any
) -> None:
    from shared.contracts.topics import CONSUMED_BY, Topic, consumer_group, topic_name

    [(name, scaled)] = [(n, d) for n, d in k8s_manifests if d["kind"] == "ScaledObject"]
    assert name == KEDA_FILE
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    target = scaled["spec"]["scaleTargetRef"]
    deployments = _kind(k8s_manifests, "Deployment")
    assert target["name"] in deployments
    assert target["name"] == scaler_defaults.scaler_k8s_deployment_prefix + "embedding"
    prefix = _config(k8s_manifests)["PILLARS_TOPIC_PREFIX"]
    expected = {
        (topic_name(topic, prefix), consumer_group(prefix, "embedding", topic))
        for topic in CONSUMED_BY["embedding"]
        if topic != Topic.EXPERIMENTS  # a broadcast every replica reads: no work to scale on
    }
    triggers = scaled["spec"]["triggers"]
    assert all(t["type"] == "kafka" for t in triggers)
    assert {(t["metadata"]["topic"], t["metadata"]["consumerGroup"]) for t in triggers} == (
        expected
    )
    bootstrap = _config(k8s_manifests)["PILLARS_KAFKA_BOOTSTRAP_SERVERS"]
    for trigger in triggers:
        assert trigger["metadata"]["bootstrapServers"] == bootstrap
        assert trigger["metadata"]["lagThreshold"] == str(scaler_defaults.scaler_lag_threshold)
    assert scaled["spec"]["minReplicaCount"] == scaler_defaults.scaler_min_replicas
    assert scaled["spec"]["maxReplicaCount"] == scaler_defaults.scaler_max_replicas


def test_keda_resets_offsets_as_the_consumers_do(k8s_manifests: Manifests) -> None:
    from shared.contracts.topics import Topic
    from shared.kit.messaging import consumer_options
    from shared.kit.settings import PillarsSettings

    reset = consumer_options(PillarsSettings.model_construct(), "embedding", Topic.CHUNKS)[
        "auto_offset_reset"
    ]
    [scaled] = _kind(k8s_manifests, "ScaledObject").values()
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["metadata"]["offsetResetPolicy"] == reset

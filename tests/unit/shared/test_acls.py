"""Least-privilege ACLs generated from the topic map, and their production forms."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.contracts.topics import CONSUMED_BY, PRODUCED_BY, Topic, dlq_name, topic_name
from shared.platform.acls import (
    BUSINESS,
    Acl,
    kafka_acls_commands,
    platform_acls,
    principal_of,
    strimzi_users,
)
from shared.platform.cli import main

pytestmark = pytest.mark.security

STRIMZI_FILE = Path(__file__).parents[3] / "compose" / "k8s" / "strimzi-kafkausers.yaml"


def _grants(acls: list[Acl], user: str) -> set[tuple[str, str, str, str]]:
    return {(a.resource, a.name, a.operation, a.pattern) for a in acls if a.user == user}


def test_each_service_reads_what_it_consumes_writes_what_it_produces_and_nothing_else() -> None:
    acls = platform_acls("acme")
    for service in set(CONSUMED_BY) | set(PRODUCED_BY):
        consumed = [topic_name(t, "acme") for t in CONSUMED_BY.get(service, ())]
        produced = [topic_name(t, "acme") for t in PRODUCED_BY[service]]
        expected = {("TOPIC", t, "READ", "LITERAL") for t in consumed}
        expected |= {("TOPIC", dlq_name(t), "WRITE", "LITERAL") for t in consumed}
        expected |= {("TOPIC", t, "WRITE", "LITERAL") for t in produced}
        if consumed:
            expected.add(("GROUP", f"acme.{service}.", "READ", "PREFIXED"))
            expected.add(("TRANSACTIONAL_ID", f"acme.{service}.", "WRITE", "PREFIXED"))
        if service == "scaler":  # lag: describes every topic and group, reads none
            expected |= {("TOPIC", "acme.", "DESCRIBE", "PREFIXED")}
            expected |= {("GROUP", "acme.", "DESCRIBE", "PREFIXED")}
        assert _grants(acls, principal_of(service)) == expected, service


def test_no_service_may_write_a_topic_another_produces_or_use_anothers_groups() -> None:
    acls = platform_acls()
    embedding = _grants(acls, principal_of("embedding"))
    assert ("TOPIC", topic_name(Topic.PREDICTIONS), "WRITE", "LITERAL") not in embedding
    assert not any(g[0] == "GROUP" and "inference" in g[1] for g in embedding)
    # A group prefix of one service never covers another's groups.
    prefixes = [a.name for a in acls if a.resource == "GROUP" and a.operation == "READ"]
    assert all(not p.startswith(q) for p in prefixes for q in prefixes if p != q)
    # Nor a transactional-id prefix another's ids (a producer could fence another's).
    ids = [a.name for a in acls if a.resource == "TRANSACTIONAL_ID"]
    assert all(not p.startswith(q) for p in ids for q in ids if p != q)
    assert ("TRANSACTIONAL_ID", "pillars.embedding.", "WRITE", "PREFIXED") in embedding


def test_business_systems_write_only_their_topics() -> None:
    writes = {a.name for a in platform_acls() if a.user == BUSINESS and a.operation == "WRITE"}
    assert writes == {topic_name(t) for t in (Topic.DOCUMENTS, Topic.REQUESTS, Topic.FEEDBACK)}


def test_kafka_acls_commands_name_principal_operation_and_resource() -> None:
    acl = Acl("pillars-trainer", "GROUP", "pillars.trainer.", "READ", "PREFIXED")
    [command] = kafka_acls_commands([acl], "b1:9092", "admin.properties")
    assert command == (
        "kafka-acls.sh --bootstrap-server b1:9092 --command-config admin.properties --add "
        "--allow-principal User:pillars-trainer --operation Read --group 'pillars.trainer.' "
        "--resource-pattern-type prefixed"
    )
    txn = Acl("pillars-trainer", "TRANSACTIONAL_ID", "pillars.trainer.", "WRITE", "PREFIXED")
    [command] = kafka_acls_commands([txn], "b1:9092", "admin.properties")
    assert "--operation Write --transactional-id 'pillars.trainer.' " in command


def test_pillars_acls_prints_one_command_per_acl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["acls", "--bootstrap", "kafka:9093"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(platform_acls())
    assert all(line.startswith("kafka-acls.sh --bootstrap-server kafka:9093") for line in lines)


def test_strimzi_manifests_are_generated_from_the_topic_map_and_valid() -> None:
    committed = [d for d in yaml.safe_load_all(STRIMZI_FILE.read_text()) if d]
    assert committed == strimzi_users(platform_acls()), "run: pillars acls --strimzi"
    services = {principal_of(s) for s in set(CONSUMED_BY) | set(PRODUCED_BY)}
    assert {u["metadata"]["name"] for u in committed} == services | {BUSINESS}
    for user in committed:
        assert user["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert user["metadata"]["labels"]["strimzi.io/cluster"]
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["type"] == "simple"
        for rule in user["spec"]["authorization"]["acls"]:
            assert rule["resource"]["type"] in ("topic", "group", "transactionalId")
            assert rule["resource"]["patternType"] in ("literal", "prefix")
            assert set(rule["operations"]) <= {"Read", "Write", "Describe"}

"""Least-privilege Kafka ACLs generated from the topic map (`CONSUMED_BY`/`PRODUCED_BY`).

Each service's principal may read only the topics it consumes, write only the topics it
produces and the dead-letter topics of those it consumes, and use only its own consumer
groups (`<prefix>.<service>.`, broadcast groups included) and its own transactional ids
(the same prefix: `PILLARS_EXACTLY_ONCE`'s producers, `<group>.<partition>`). The scaler
may describe every topic and group (lag) and write its decisions. A business-systems
principal may write documents, requests and feedback and read predictions. The platform's
admin is a super user.

The same list is applied by `pillars up --secure`, printed by `pillars acls` as `kafka-acls`
commands, and written as Strimzi `KafkaUser` manifests for Kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shared.contracts.topics import (
    BUSINESS_SYSTEMS,
    CONSUMED_BY,
    PRODUCED_BY,
    Topic,
    dlq_name,
    topic_name,
)

__all__ = [
    "ADMIN",
    "BUSINESS",
    "Acl",
    "kafka_acls_commands",
    "platform_acls",
    "principal_of",
    "strimzi_users",
]

ADMIN = "pillars-admin"
BUSINESS = "pillars-business"

Operation = Literal["READ", "WRITE", "DESCRIBE"]
Resource = Literal["TOPIC", "GROUP", "TRANSACTIONAL_ID"]
# How `kafka-acls.sh` and Strimzi name each resource type.
_CLI_RESOURCE = {"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactional-id"}
_STRIMZI_RESOURCE = {"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactionalId"}
Pattern = Literal["LITERAL", "PREFIXED"]


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule: `user` may do `operation` on the resource `name` (or names it prefixes)."""

    user: str
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = "LITERAL"

    @property
    def principal(self) -> str:
        """Return Kafka's principal, e.g. `User:pillars-embedding`."""
        return f"User:{self.user}"


def principal_of(service: str) -> str:
    """Return the user name a service authenticates as, e.g. `pillars-embedding`."""
    return f"pillars-{service}"


def _service_acls(prefix: str, service: str) -> list[Acl]:
    user = principal_of(service)
    acls = []
    for topic in CONSUMED_BY.get(service, ()):
        name = topic_name(topic, prefix)
        acls += [Acl(user, "TOPIC", name, "READ"), Acl(user, "TOPIC", dlq_name(name), "WRITE")]
    if service in CONSUMED_BY:
        acls.append(Acl(user, "GROUP", f"{prefix}.{service}.", "READ", "PREFIXED"))
        # Exactly-once hops: one transactional producer per consumed partition, named after
        # the group. WRITE implies DESCRIBE; since Kafka 3.0 it also implies IdempotentWrite.
        acls.append(Acl(user, "TRANSACTIONAL_ID", f"{prefix}.{service}.", "WRITE", "PREFIXED"))
    acls += [Acl(user, "TOPIC", topic_name(t, prefix), "WRITE") for t in PRODUCED_BY[service]]
    return acls


def platform_acls(prefix: str = "pillars") -> list[Acl]:
    """Return every ACL the platform's principals need, sorted, without duplicates."""
    services = sorted(set(CONSUMED_BY) | set(PRODUCED_BY))
    acls = {acl for service in services for acl in _service_acls(prefix, service)}
    scaler = principal_of("scaler")  # reads lag: committed and end offsets of every group
    acls |= {
        Acl(scaler, "TOPIC", f"{prefix}.", "DESCRIBE", "PREFIXED"),
        Acl(scaler, "GROUP", f"{prefix}.", "DESCRIBE", "PREFIXED"),
    }
    acls |= {Acl(BUSINESS, "TOPIC", topic_name(t, prefix), "WRITE") for t in BUSINESS_SYSTEMS}
    acls.add(Acl(BUSINESS, "TOPIC", topic_name(Topic.PREDICTIONS, prefix), "READ"))
    return sorted(acls)


def kafka_acls_commands(
    acls: list[Acl], bootstrap: str = "BOOTSTRAP:9092", config: str = "admin.properties"
) -> list[str]:
    """Return one `kafka-acls.sh --add` command per ACL (run with an admin's client config)."""
    return [
        f"kafka-acls.sh --bootstrap-server {bootstrap} --command-config {config} --add "
        f"--allow-principal {acl.principal} --operation {acl.operation.capitalize()} "
        f"--{_CLI_RESOURCE[acl.resource]} '{acl.name}' "
        f"--resource-pattern-type {acl.pattern.lower()}"
        for acl in acls
    ]


def strimzi_users(acls: list[Acl], cluster: str = "pillars") -> list[dict[str, Any]]:
    """Return a Strimzi `KafkaUser` (SCRAM-SHA-512, simple authorisation) per principal."""
    users: dict[str, list[dict[str, Any]]] = {}
    for acl in acls:
        pattern = "prefix" if acl.pattern == "PREFIXED" else "literal"  # Strimzi's words
        rule = {
            "resource": {
                "type": _STRIMZI_RESOURCE[acl.resource],
                "name": acl.name,
                "patternType": pattern,
            },
            "operations": [acl.operation.capitalize()],
            "host": "*",
        }
        users.setdefault(acl.user, []).append(rule)
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaUser",
            "metadata": {
                "name": user,
                "namespace": "pillars",
                "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "pillars"},
            },
            "spec": {
                "authentication": {"type": "scram-sha-512"},
                "authorization": {"type": "simple", "acls": rules},
            },
        }
        for user, rules in sorted(users.items())
    ]

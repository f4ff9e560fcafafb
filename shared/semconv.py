"""Kafka spans in the OpenTelemetry messaging conventions, on top of FastStream's instrumentation.

FastStream's middleware already propagates `traceparent` and opens the create, publish and
process spans; it names them `<topic> <action>` with the older experimental attributes
(`messaging.kafka.destination.partition`, `messaging.kafka.message.offset`, ...) and no
consumer group. pillars extends it in two seams instead of re-implementing propagation:

- `ConventionalKafkaTelemetry` gives the middleware attribute providers that add the
  consumer group, the client id and the broker address, in the names the convention in
  force asks for;
- `MessagingSpanNames`, a span processor, renames the spans `<operation> <topic>` and adds
  `messaging.operation.type`/`messaging.operation.name` under the current conventions.

Which conventions: `OTEL_SEMCONV_STABILITY_OPT_IN`, as the semantic-conventions transition plan
defines it. Unset: the older attributes only (what FastStream emits, plus the consumer group as
`messaging.kafka.consumer.group`). `messaging`: the current attributes and span names.
`messaging/dup`: both attribute sets, current span names. `pillars up`, compose/ and the
Kubernetes ConfigMap set `messaging/dup`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from faststream.kafka.opentelemetry.provider import (
    BatchKafkaTelemetrySettingsProvider,
    KafkaTelemetrySettingsProvider,
)
from faststream.kafka.response import KafkaPublishCommand
from faststream.opentelemetry.consts import INSTRUMENTING_MODULE_NAME
from faststream.opentelemetry.middleware import TelemetryMiddleware
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from shared.topics import CONSUMED_BY, consumer_group, topic_name

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord
    from faststream.message import StreamMessage

__all__ = [
    "ConventionalKafkaTelemetry",
    "Conventions",
    "MessagingSpanNames",
    "messaging_conventions",
]

OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"

# older name -> current name; values of the partition become strings under the current names
_RENAMED = {
    "messaging.kafka.destination.partition": "messaging.destination.partition.id",
    "messaging.kafka.message.offset": "messaging.kafka.offset",
    "messaging.message.payload_size_bytes": "messaging.message.body.size",
    "messaging.destination_publish.name": "messaging.destination.name",
    "messaging.kafka.consumer.group": "messaging.consumer.group.name",
}
# FastStream's `<topic> <action>` suffix -> the current operation type
_OPERATION = {"process": "process", "publish": "send", "create": "create"}


class Conventions(Enum):
    """Which messaging attribute names spans carry."""

    OLD = "old"
    CURRENT = "messaging"
    BOTH = "messaging/dup"

    @property
    def current(self) -> bool:
        """Tell whether the current names (and span names) are emitted."""
        return self is not Conventions.OLD

    @property
    def old(self) -> bool:
        """Tell whether the older names are emitted."""
        return self is not Conventions.CURRENT


def messaging_conventions(environ: Mapping[str, str] = os.environ) -> Conventions:
    """Read `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list; `/dup` wins)."""
    options = {part.strip() for part in environ.get(OPT_IN, "").split(",")}
    if "messaging/dup" in options:
        return Conventions.BOTH
    if "messaging" in options:
        return Conventions.CURRENT
    return Conventions.OLD


def convert(attributes: Mapping[str, Any], conventions: Conventions) -> dict[str, Any]:
    """Return `attributes` (older names) in the names `conventions` asks for."""
    attributes = {
        # Kafka keys are bytes; the conventions (and trace UIs) want the key as text.
        name: value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        for name, value in attributes.items()
    }
    converted = dict(attributes) if conventions.old else {}
    for name, value in attributes.items():
        current = _RENAMED.get(name)
        if current is None:
            converted.setdefault(name, value)
        elif conventions.current:
            partition = current == "messaging.destination.partition.id"
            converted[current] = str(value) if partition else value
    return converted


class _Context:
    """What the providers add to FastStream's attributes for one service's broker."""

    def __init__(
        self, service: str, prefix: str, client_id: str, servers: str, conventions: Conventions
    ) -> None:
        self.client_id = client_id
        self.conventions = conventions
        host, _, port = servers.split(",")[0].strip().rpartition(":")
        self.server = {
            "server.address": host or port,
            **({"server.port": int(port)} if host else {}),
        }
        self.groups = {
            topic_name(topic, prefix): consumer_group(prefix, service, topic)
            for topic in CONSUMED_BY.get(service, ())
        }

    def consume(self, attributes: Mapping[str, Any], topic: str) -> dict[str, Any]:
        extra = {"messaging.client.id": self.client_id, **self.server}
        if (group := self.groups.get(topic)) is not None:
            extra["messaging.kafka.consumer.group"] = group
        return convert({**attributes, **extra}, self.conventions)

    def publish(self, attributes: Mapping[str, Any]) -> dict[str, Any]:
        extra = {"messaging.client.id": self.client_id, **self.server}
        return convert({**attributes, **extra}, self.conventions)


class _Single(KafkaTelemetrySettingsProvider):
    def __init__(self, context: _Context) -> None:
        super().__init__()
        self.pillars = context

    def get_consume_attrs_from_message(self, msg: StreamMessage[ConsumerRecord]) -> dict[str, Any]:
        attributes = super().get_consume_attrs_from_message(msg)
        return self.pillars.consume(attributes, str(msg.raw_message.topic))

    def get_publish_attrs_from_cmd(self, cmd: KafkaPublishCommand) -> dict[str, Any]:
        return self.pillars.publish(super().get_publish_attrs_from_cmd(cmd))


class _Batch(BatchKafkaTelemetrySettingsProvider):
    def __init__(self, context: _Context) -> None:
        super().__init__()
        self.pillars = context

    def get_consume_attrs_from_message(
        self, msg: StreamMessage[tuple[ConsumerRecord, ...]]
    ) -> dict[str, Any]:
        attributes = super().get_consume_attrs_from_message(msg)
        return self.pillars.consume(attributes, str(msg.raw_message[0].topic))

    def get_publish_attrs_from_cmd(self, cmd: KafkaPublishCommand) -> dict[str, Any]:
        return self.pillars.publish(super().get_publish_attrs_from_cmd(cmd))


class ConventionalKafkaTelemetry(TelemetryMiddleware[KafkaPublishCommand]):
    """FastStream's Kafka telemetry with the consumer group, client and server attributes."""

    def __init__(
        self,
        *,
        service: str,
        prefix: str,
        client_id: str,
        servers: str,
        conventions: Conventions,
        **options: Any,
    ) -> None:
        context = _Context(service, prefix, client_id, servers, conventions)

        def provider(msg: ConsumerRecord | Sequence[ConsumerRecord] | None) -> _Single | _Batch:
            return _Batch(context) if isinstance(msg, Sequence) else _Single(context)

        super().__init__(settings_provider_factory=provider, **options)


class MessagingSpanNames(SpanProcessor):
    """Names FastStream's Kafka spans `<operation> <topic>` under the current conventions,
    and stamps every span with the service that made it (trace UIs do not all show resources)."""

    def __init__(self, service: str, conventions: Conventions) -> None:
        self.service = service
        self.conventions = conventions

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        span.set_attribute("pillars.service", self.service)
        scope = span.instrumentation_scope
        if not self.conventions.current or scope is None or scope.name != INSTRUMENTING_MODULE_NAME:
            return
        destination, _, action = span.name.rpartition(" ")
        operation = _OPERATION.get(action)
        if operation is None or not destination:
            return
        span.update_name(f"{operation} {destination}")
        span.set_attribute("messaging.operation.type", operation)
        span.set_attribute("messaging.operation.name", operation)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

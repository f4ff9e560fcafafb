"""What every service's app.py starts from: settings, tracing, broker, typed topics, the app."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher import DefaultPublisher
from faststream.specification import AsyncAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.messaging import consumer_options, make_broker
from shared.settings import PillarsSettings
from shared.telemetry import setup_tracing
from shared.topics import EVENT_OF, Topic, topic_name

__all__ = ["ServiceKit", "run_service"]


@dataclass
class ServiceKit:
    """The broker, tracer and topic helpers of one service; building it connects nothing."""

    service: str
    settings: PillarsSettings
    tracer: TracerProvider = field(init=False)
    broker: KafkaBroker = field(init=False)

    def __post_init__(self) -> None:
        self.tracer = setup_tracing(self.service)
        self.broker = make_broker(self.settings, self.service, self.tracer)

    @property
    def source(self) -> str:
        """Return the CloudEvents source of what this service publishes."""
        return f"/pillars/{self.service}"

    def topic(self, topic: Topic) -> str:
        """Return the Kafka name of `topic` under the configured prefix."""
        return topic_name(topic, self.settings.topic_prefix)

    def consumer_group(self, topic: Topic) -> str:
        """Return the consumer group this service reads `topic` with."""
        return str(consumer_options(self.settings, self.service, topic)["group_id"])

    def subscriber(
        self, topic: Topic, **options: Any
    ) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
        """Return a subscriber decorator for `topic` that commits only after processing."""
        decorator: Callable[[Callable[..., Awaitable[Any]]], Any] = self.broker.subscriber(
            self.topic(topic),
            **(consumer_options(self.settings, self.service, topic) | options),
        )
        return decorator

    def publisher(self, topic: Topic) -> DefaultPublisher:
        """Return a publisher for `topic`, documented with its event's schema."""
        return self.broker.publisher(
            self.topic(topic), schema=EVENT_OF[topic], title=f"{self.topic(topic)}:publish"
        )

    def app(self, **hooks: Any) -> FastStream:
        """Return the FastStream app; the tracer flushes its spans when the app stops."""
        shutdown = [*hooks.pop("after_shutdown", ()), self.tracer.shutdown]
        return FastStream(
            self.broker,
            specification=AsyncAPI(self.broker, title=f"pillars-{self.service}", version="1.0.0"),
            after_shutdown=shutdown,
            **hooks,
        )


def run_service(create_app: Callable[[], FastStream]) -> None:
    """Run a service's app until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=os.environ.get("PILLARS_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    asyncio.run(create_app().run())

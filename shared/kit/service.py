"""What every service's app.py starts from: settings, tracing, broker, typed topics, the app.

An app.py builds a `ServiceKit`, hands it its bootstrap (`assemble`), declares each
subscriber with `handles` as one call into a handler, and returns `app()`.
"""

from __future__ import annotations

import inspect
import typing
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaResponse
from faststream.kafka import Topic as KafkaTopic
from faststream.kafka.message import KafkaMessage
from faststream.kafka.publisher import DefaultPublisher
from faststream.specification import AsyncAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.contracts.events import Event
from shared.contracts.topics import (
    BROADCAST,
    CONSUMED_BY,
    EVENT_OF,
    PRODUCED_BY,
    Topic,
    topic_name,
)
from shared.kit.assembly import Assembled, Periodic
from shared.kit.batches import Received, raw_bodies, valid_events
from shared.kit.commits import commit_after_handling
from shared.kit.decoding import validated_as
from shared.kit.faststream_seams import current_message, poll_without_idle_sleep, route_publishes
from shared.kit.messaging import (
    consumer_options,
    consumers_per_replica,
    make_broker,
    transactional_producers,
)
from shared.kit.metrics import MetricsEndpoint
from shared.kit.openinference import ModelWork, annotate_current_span, request_attributes
from shared.kit.publishing import envelope, publish_event
from shared.kit.rebalance import FinishBeforeRevoke
from shared.kit.settings import PillarsSettings
from shared.kit.telemetry import continue_trace, setup_tracing
from shared.kit.transactions import (
    PartitionProducers,
    hop_producer,
    publishing_for,
    transactional_parser,
)

__all__ = ["ServiceKit"]

E = TypeVar("E", bound=Event)
S = TypeVar("S", bound=PillarsSettings)
D = TypeVar("D")
Handler = Callable[[E], Awaitable[Event | None]]


@dataclass
class ServiceKit(Generic[S]):
    """The broker, tracer and topic helpers of one service; building it connects nothing."""

    service: str
    settings: S
    tracer: TracerProvider = field(init=False)
    broker: KafkaBroker = field(init=False)
    metrics: MetricsEndpoint = field(init=False)
    _assembled: Assembled[Any] | None = field(default=None, init=False)
    _periodic: list[Periodic] = field(default_factory=list, init=False)
    _publishers: dict[Topic, DefaultPublisher] = field(default_factory=dict, init=False)
    _transactional: list[PartitionProducers] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.tracer = setup_tracing(self.service)
        self.broker = make_broker(self.settings, self.service, self.tracer)
        if self.settings.exactly_once:
            route_publishes(self.broker, hop_producer)
        self.metrics = MetricsEndpoint(
            self.service,
            self.settings.metrics_port,
            self.settings.metrics_targets_dir,
            host=self.settings.metrics_host,
        )

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

    def assemble(self, build: Callable[[], AbstractAsyncContextManager[D]]) -> Assembled[D]:
        """Build the service's dependencies with `build` (its bootstrap) while the app runs;
        return what the subscribers call to reach them."""
        self._assembled = Assembled(self.service, build)
        return self._assembled

    def every(self, interval_s: float, name: str, round_: Callable[[], Awaitable[None]]) -> None:
        """Run `round_` every `interval_s` while the app runs (e.g. a report, a decision)."""
        self._periodic.append(Periodic(f"{self.service}-{name}", interval_s, round_))

    def subscriber(
        self, topic: Topic, **options: Any
    ) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
        """Return a subscriber decorator for `topic` that commits only after processing.

        The topic map (`CONSUMED_BY`) says what a service may consume; subscribing to
        anything else is refused, so the map and the subscribers cannot disagree. On a
        rebalance in-flight messages finish and commit before the partitions move, so a
        replica joining or leaving does not make another one redo them. Offsets commit
        shortly after handling (`shared.kit.commits`), or with `exactly_once` in the
        transaction of what the message caused (`shared.kit.transactions`). A request topic
        is read by several consumers (`consumers_per_replica`).
        """
        if topic not in CONSUMED_BY.get(self.service, ()):
            raise ValueError(f"{self.service} does not consume {topic} (CONSUMED_BY)")
        producers = None
        if self.settings.exactly_once and (self.service, topic) not in BROADCAST:
            producers = transactional_producers(self.settings, self.service, topic)
            self._transactional.append(producers)
            options.setdefault("parser", transactional_parser(producers))
        listener = FinishBeforeRevoke(self.settings.shutdown_grace_s, producers)
        workers = consumers_per_replica(self.settings, self.service, topic)
        options.setdefault("parser", commit_after_handling)
        if not options.get("batch"):
            options.setdefault("decoder", validated_as(EVENT_OF[topic]))
            if workers > 1:
                options["max_workers"] = workers
        subscriber: Any = self.broker.subscriber(
            # The platform creates topics (`pillars topics`); a service's principal may not.
            KafkaTopic(self.topic(topic), declare=False),
            listener=listener,
            **(consumer_options(self.settings, self.service, topic) | options),
        )
        listener.subscriber = subscriber
        decorator: Callable[[Callable[..., Awaitable[Any]]], Any] = subscriber
        return decorator

    def handles(
        self,
        topic: Topic,
        *,
        publishes: Topic | None = None,
        observe: Callable[[Any], None] | None = None,
    ) -> Callable[[Handler[E]], Any]:
        """Subscribe a one-event handler to `topic`; what it returns is published to
        `publishes` with its key and CloudEvents headers.

        Both events annotate the message's span, and `observe` (the service's metrics)
        sees the returned event, so the handler itself is only the call into the domain.
        A topic of the map's `BROADCAST` set reaches every replica (`broadcast_options`).
        """

        def decorator(handler: Handler[E]) -> Any:
            (parameter,) = inspect.signature(handler).parameters.values()
            event_type = typing.get_type_hints(handler)[parameter.name]

            async def subscriber(event: Any) -> KafkaResponse | None:
                annotate_current_span(event)
                result = await handler(event)
                if result is None:
                    return None
                annotate_current_span(result)
                if observe is not None:
                    observe(result)
                return envelope(result, self.source)

            subscriber.__name__ = subscriber.__qualname__ = handler.__name__
            subscriber.__doc__ = handler.__doc__
            # The event's real type (not a string under `from __future__ import annotations`)
            # for FastStream's AsyncAPI and its argument check.
            subscriber.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
                [parameter.replace(annotation=event_type)]
            )
            wired: Any = subscriber
            if publishes is not None:
                wired = self.publisher(publishes)(wired)
            broadcast = (self.service, topic) in BROADCAST
            options = self.broadcast_options(topic) if broadcast else {}
            return self.subscriber(topic, **options)(wired)

        return decorator

    def broadcast_options(self, topic: Topic) -> dict[str, Any]:
        """Return the options that make every replica read every new record of `topic`: a
        consumer group of this process' own, starting from the end (a replica loads the
        current state at start, e.g. the experiment in force, and follows changes)."""
        return {
            "group_id": f"{self.consumer_group(topic)}.{uuid.uuid4().hex[:12]}",
            "auto_offset_reset": "latest",
        }

    def batch_subscriber(
        self, topic: Topic, *, max_records: int, wait_ms: int
    ) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
        """Return a batch subscriber whose records `valid_batch` validates one by one.

        aiokafka hands over whatever is buffered at once, so when busy a batch
        costs no extra wait; `wait_ms` only bounds the poll when nothing is there.
        """
        model = EVENT_OF[topic].__name__
        subscriber = self.subscriber(
            topic,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=wait_ms,
            decoder=raw_bodies,
            description=f"Batches of {model} (schemas/events/{self.topic(topic)}.json); "
            "each record is validated on its own so one bad record cannot fail the others.",
        )
        poll_without_idle_sleep(subscriber, max_records=max_records, wait_ms=wait_ms)
        return subscriber

    async def valid_batch(self, topic: Topic, model: type[E]) -> list[Received[E]]:
        """Return the current batch's valid events; the invalid ones go to the topic's DLQ."""
        return await valid_events(
            self.current_message(), model, broker=self.broker, consumer=self.consumer_group(topic)
        )

    async def publish_in_trace(
        self,
        publisher: DefaultPublisher,
        event: Event,
        cause: Received[Any],
        what: str,
        work: ModelWork | None = None,
    ) -> None:
        """Publish `event` inside the trace of the batch message that caused it.

        `work`, the model work done for it in the batch, becomes a span of that trace too,
        recorded once the event is out (its times are its own), so the next service does
        not wait for it.
        """
        started = None if work is None else work.started_at
        name = f"{self.service} {what}"
        with (
            continue_trace(self.tracer, cause.headers, name, started_at=started) as span,
            publishing_for(*cause.partition),
        ):
            span.set_attributes(request_attributes(event))
            await publish_event(publisher, event, self.source)
            if work is not None:
                work.record(self.tracer)

    async def publish(self, publisher: DefaultPublisher, event: Event) -> None:
        """Publish `event` from this service, waiting for the broker's acknowledgement."""
        await publish_event(publisher, event, self.source)

    def current_message(self) -> KafkaMessage:
        """Return the message being handled."""
        return current_message(self.broker)

    def publisher(self, topic: Topic) -> DefaultPublisher:
        """Return a publisher for `topic`, documented with its event's schema; the topic
        map (`PRODUCED_BY`) says what a service may publish."""
        if topic not in PRODUCED_BY.get(self.service, ()):
            raise ValueError(f"{self.service} does not produce {topic} (PRODUCED_BY)")
        # One per topic: a second would document the channel twice (FastStream warns).
        if topic not in self._publishers:
            self._publishers[topic] = self.broker.publisher(
                self.topic(topic), schema=EVENT_OF[topic], title=f"{self.topic(topic)}:publish"
            )
        return self._publishers[topic]

    def app(self, **hooks: Any) -> FastStream:
        """Return the FastStream app: its dependencies are built while it runs, its periodic
        rounds run once the broker is connected, it serves its metrics, and the tracer
        flushes its spans when it stops."""
        if self._assembled is not None:
            hooks.setdefault("lifespan", self._assembled.lifespan)
        rounds = self._periodic
        closing = [p.close for p in self._transactional]  # once the subscribers have stopped
        return FastStream(
            self.broker,
            specification=AsyncAPI(self.broker, title=f"pillars-{self.service}", version="1.0.0"),
            on_startup=[self.metrics.start, *hooks.pop("on_startup", ())],
            after_startup=[*hooks.pop("after_startup", ()), *(r.start for r in rounds)],
            on_shutdown=[*(r.stop for r in rounds), *hooks.pop("on_shutdown", ())],
            after_shutdown=[
                *hooks.pop("after_shutdown", ()),
                *closing,
                self.metrics.stop,
                self.tracer.shutdown,
            ],
            **hooks,
        )

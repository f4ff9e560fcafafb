"""Running a service's app as a process: logging, its event loop, one-line config errors."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from aiokafka.errors import KafkaConnectionError
from faststream import FastStream
from pydantic import ValidationError

from shared.kit.settings import PillarsSettings, settings_problem

__all__ = ["event_loop_factory", "run_service"]


def run_service(create_app: Callable[[], FastStream]) -> None:
    """Run a service's app until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=os.environ.get("PILLARS_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        loop_factory = event_loop_factory(PillarsSettings().event_loop)
        app = create_app()
    except ValidationError as exc:  # a misconfiguration: one line, not a stack trace
        logging.getLogger("pillars").error("%s", settings_problem(exc))
        raise SystemExit(2) from None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            runner.run(app.run())
        except KafkaConnectionError as exc:  # unreachable, or refused (e.g. a wrong password)
            logging.getLogger("pillars").error(
                "cannot connect to Kafka (%s): check PILLARS_KAFKA_BOOTSTRAP_SERVERS and "
                "PILLARS_KAFKA_SECURITY_PROTOCOL / _SASL_* / _SSL_* (aiokafka's error above "
                "says why)",
                exc,
            )
            raise SystemExit(2) from None


def event_loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """Return uvloop's event loop factory (`choice` "uvloop", where it is installed), else
    None: asyncio's own loop.

    Every Kafka hop is a few event-loop turns in the producing service (the producer's
    sender task, its request, the acknowledgement) and a few in the consuming one; with
    uvloop a plain produce -> consume hop measured about a tenth less than with asyncio's
    loop (2.54 against 2.80 ms p50, one message every 10 ms).
    """
    if choice != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:  # Windows: uvloop does not build there
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory

"""What every `pillars` command starts from: settings, a client, one-line failures."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from shared.kit.kafka_security import KafkaSecuritySettings
    from shared.kit.settings import PillarsSettings
    from shared.platform.client import PillarsClient
    from shared.platform.runtime.stack import Endpoints

__all__ = ["Commands", "client_for", "fail", "kafka_security_for", "settings_from"]

# What a command module's `add_commands` receives: the `pillars` parser's subcommands.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def settings_from(args: argparse.Namespace) -> PillarsSettings:
    """Return the settings, with `--data-dir` applied."""
    from shared.kit.settings import PillarsSettings

    return PillarsSettings(**({"data_dir": args.data_dir} if args.data_dir else {}))


def client_for(settings: PillarsSettings, source: str) -> PillarsClient:
    """Return a client for the running platform; RuntimeError names what is missing."""
    from shared.platform.client import PillarsClient
    from shared.platform.runtime.stack import read_endpoints

    endpoints = read_endpoints(settings)
    return PillarsClient(
        endpoints.kafka_bootstrap_servers,
        prefix=settings.topic_prefix,
        source=source,
        security=kafka_security_for(settings, endpoints),
    )


def kafka_security_for(settings: PillarsSettings, endpoints: Endpoints) -> KafkaSecuritySettings:
    """Return how the CLI connects: the settings when they name a security protocol, else
    as the admin of the secure broker `pillars up --secure` recorded, else plainly."""
    from shared.kit.kafka_security import KafkaSecuritySettings

    if "kafka_security_protocol" in settings.model_fields_set or not endpoints.kafka_security:
        return settings
    recorded = {k.removeprefix("PILLARS_").lower(): v for k, v in endpoints.kafka_security.items()}
    return KafkaSecuritySettings.model_validate(recorded)


def fail(message: object, code: int = 2) -> int:
    """Print `pillars: message` on stderr and return `code`, the command's exit status."""
    print(f"pillars: {message}", file=sys.stderr)
    return code

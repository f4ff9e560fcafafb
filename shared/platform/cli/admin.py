"""Operating the platform's contracts: `pillars topics`, `pillars schemas`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from shared.platform.cli.common import Commands, fail, kafka_security_for, settings_from

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Add `topics`, `acls` and `schemas`."""
    topics = commands.add_parser(
        "topics",
        help="create missing topics and their dead-letter topics; report how existing ones "
        "differ from the settings (changing none)",
    )
    topics.add_argument("--check", action="store_true", help="exit 1 when any topic differs")
    topics.set_defaults(run=_topics)
    acls = commands.add_parser(
        "acls",
        help="print the least-privilege ACLs of the topic map as `kafka-acls` commands "
        "(`--strimzi`: as Strimzi KafkaUser manifests)",
    )
    acls.add_argument("--bootstrap", default="BOOTSTRAP:9092", help="broker for the commands")
    acls.add_argument("--command-config", default="admin.properties", help="an admin's config")
    acls.add_argument("--strimzi", action="store_true", help="print KafkaUser YAML instead")
    acls.set_defaults(run=_acls)
    schemas = commands.add_parser("schemas", help="regenerate schemas/ from the code")
    schemas.add_argument("--out", default="schemas", help="folder to write")
    schemas.add_argument("--check", action="store_true", help="only report what differs")
    schemas.add_argument("--readme", default="README.md", help="whose topic table to regenerate")
    schemas.set_defaults(run=_schemas)


def _topics(args: argparse.Namespace) -> int:
    from shared.kit.kafka_security import KafkaSecuritySettings
    from shared.kit.topic_admin import reconcile_topics, specs_from
    from shared.platform.runtime.stack import read_endpoints

    settings = settings_from(args)
    try:
        bootstrap = settings.kafka_bootstrap_servers
        security: KafkaSecuritySettings = settings
        if not bootstrap:
            endpoints = read_endpoints(settings)
            bootstrap = endpoints.kafka_bootstrap_servers
            security = kafka_security_for(settings, endpoints)
        report = asyncio.run(
            reconcile_topics(bootstrap, specs_from(settings), verify=True, security=security)
        )
    except RuntimeError as exc:
        return fail(exc)
    print(f"topics: {len(report.created)} created on {bootstrap}", *report.created, sep="\n  ")
    if report.drift:
        print(f"topics: {len(report.drift)} differ from the settings (left as they are):")
        print(*report.drift, sep="\n  ")
    return 1 if report.drift and args.check else 0


def _acls(args: argparse.Namespace) -> int:
    import yaml

    from shared.platform.acls import kafka_acls_commands, platform_acls, strimzi_users

    acls = platform_acls(settings_from(args).topic_prefix)
    if args.strimzi:
        print(yaml.safe_dump_all(strimzi_users(acls), sort_keys=False), end="")
    else:
        print(*kafka_acls_commands(acls, args.bootstrap, args.command_config), sep="\n")
    return 0


def _schemas(args: argparse.Namespace) -> int:
    from shared.platform.schemas import write_schemas, write_topic_table

    changed = write_schemas(Path(args.out), check=args.check)
    readme = Path(args.readme)
    if readme.is_file() and write_topic_table(readme, check=args.check):
        changed.append(f"{readme} (topic table)")
    if args.check and changed:
        print("schemas/ is out of date; run `pillars schemas`:", *changed, sep="\n  ")
        return 1
    print(f"schemas: {len(changed)} file(s) {'differ' if args.check else 'written'}")
    return 0

"""Consumer-group questions aiokafka's admin client cannot answer by itself on Kafka 4."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import (
    DescribeGroupsRequest_v0,
    DescribeGroupsRequest_v1,
    DescribeGroupsRequest_v2,
)
from aiokafka.protocol.api import Request

from shared.kit.kafka_security import KafkaSecuritySettings, kafka_client_options
from shared.kit.settings import bootstrap_list

__all__ = ["answers_metadata", "group_members", "wait_for_members"]

_UpToV2 = DescribeGroupsRequest_v0 | DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2


class _DescribeGroups(Request[_UpToV2]):  # type: ignore[misc]  # aiokafka is untyped
    """DescribeGroups capped at v2: aiokafka 0.14 decodes v3 answers with the v2 schema."""

    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class: Any) -> Any:
        """Return the request at the version negotiated with the broker (v0-v2)."""
        return request_struct_class(self._groups)


async def group_members(admin: AIOKafkaAdminClient, group: str) -> int:
    """Return how many consumers are in `group` now (0 for an unknown group)."""
    coordinator = await admin.find_coordinator(group)
    response = await admin._send_request(_DescribeGroups([group]), coordinator)
    [(_error, _group, _state, _protocol_type, _protocol, members)] = response.groups
    return len(members)


async def wait_for_members(
    bootstrap: str | Sequence[str],
    groups: Sequence[str],
    diagnostics: Callable[[], str],
    timeout_s: float = 240,
    *,
    security: KafkaSecuritySettings | None = None,
) -> None:
    """Wait until every group has a member; fail with `diagnostics()` (e.g. service logs)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_list(bootstrap),
        **(kafka_client_options(security) if security else {}),
    )
    await admin.start()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                waiting = [g for g in groups if not await group_members(admin, g)]
            except KafkaError as exc:  # the group coordinator starts just after the broker
                waiting = [str(exc)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no consumer joined {waiting} in {timeout_s:g}s\n{diagnostics()}"
                )
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def answers_metadata(bootstrap: str, security: KafkaSecuritySettings | None = None) -> bool:
    """Return whether the broker answers a metadata request and lists itself."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=5000,
        **(kafka_client_options(security) if security else {}),
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
    except Exception:
        return False
    finally:
        await admin.close()
    return bool(cluster.get("brokers"))

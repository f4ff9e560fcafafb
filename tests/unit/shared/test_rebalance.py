import asyncio
from types import SimpleNamespace

from aiokafka import TopicPartition
from faststream._internal.endpoint.subscriber.utils import MultiLock

from shared.kit.rebalance import FinishBeforeRevoke

PARTITION = TopicPartition("pillars.chunks.v1", 0)


async def test_revocation_waits_for_the_message_in_flight() -> None:
    lock = MultiLock()
    listener = FinishBeforeRevoke(timeout_s=5)
    listener.subscriber = SimpleNamespace(lock=lock)
    lock.acquire()  # a handler is processing (and will commit) a message

    revoking = asyncio.create_task(listener.on_partitions_revoked({PARTITION}))
    await asyncio.sleep(0.05)
    assert not revoking.done()
    lock.release()  # handled and committed
    await asyncio.wait_for(revoking, 1)


async def test_revocation_gives_up_after_its_timeout() -> None:
    lock = MultiLock()
    lock.acquire()
    listener = FinishBeforeRevoke(timeout_s=0.05)
    listener.subscriber = SimpleNamespace(lock=lock)

    await asyncio.wait_for(listener.on_partitions_revoked({PARTITION}), 1)


async def test_no_wait_before_the_subscriber_starts_or_if_nothing_is_revoked() -> None:
    listener = FinishBeforeRevoke(timeout_s=5)
    await asyncio.wait_for(listener.on_partitions_revoked({PARTITION}), 1)
    listener.subscriber = SimpleNamespace(lock=MultiLock())
    listener.subscriber.lock.acquire()
    await asyncio.wait_for(listener.on_partitions_revoked(set()), 1)

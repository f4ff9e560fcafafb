"""A one-hop service for `test_exactly_once.py`: documents -> chunks as ingestion does, run
as its own process so the test can have it killed mid-transaction.

`EOS_CRASH_ON=<document id>`: once that document's chunks are written (acknowledged by the
broker, not yet committed), the process SIGKILLs itself.
"""

from __future__ import annotations

import asyncio
import os
import signal

from services.ingestion.handlers import chunk_document
from shared.contracts.events import DocumentChanged
from shared.contracts.topics import Topic
from shared.kit.service import ServiceKit
from shared.kit.settings import PillarsSettings
from tests.fakes import WordTokenizer


def main() -> None:
    kit = ServiceKit("ingestion", PillarsSettings())
    chunks = kit.publisher(Topic.CHUNKS)
    crash_on = os.environ.get("EOS_CRASH_ON")

    @kit.handles(Topic.DOCUMENTS)
    async def on_document(event: DocumentChanged) -> None:
        chunked = chunk_document(
            event, tokens=WordTokenizer(), chunk_size=40, overlap=0, max_bytes=100_000
        )
        await kit.publish(chunks, chunked)
        if event.document_id == crash_on:
            os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(kit.app().run())


if __name__ == "__main__":
    main()

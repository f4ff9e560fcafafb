"""Back-filling a secondary embedding model's vectors from the stored chunks: batch by batch,
tenant by tenant, without re-ingesting anything.

Idempotent and resumable: each batch is the chunks still lacking the model's vector, and
a vector is only ever set where there is none, so a run stopped anywhere (or two at once)
leaves nothing half done, and the next run starts where it stopped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from services.embedding.ports import Encoder
from shared.contracts.embedders import EmbedderName

__all__ = ["BATCH", "BackfillStore", "Backfilled", "backfill"]

BATCH = 16  # chunks encoded together


class BackfillStore(Protocol):
    """The chunks lacking a model's vector, and setting it."""

    async def tenants(self, model: EmbedderName) -> dict[str, int]:
        """Return each tenant with chunks lacking `model`'s vector, and how many."""
        ...

    async def lacking(
        self, tenant: str, model: EmbedderName, limit: int
    ) -> list[tuple[uuid.UUID, str]]:
        """Return up to `limit` of `tenant`'s chunks (id, text) lacking `model`'s vector."""
        ...

    async def fill(
        self, tenant: str, model: EmbedderName, vectors: Mapping[uuid.UUID, list[float]]
    ) -> int:
        """Set `model`'s vectors of chunks that still lack one; return how many were set."""
        ...


@dataclass(frozen=True)
class Backfilled:
    """What a backfill did: vectors set, per tenant."""

    filled: dict[str, int]

    @property
    def total(self) -> int:
        """Return the vectors set over every tenant."""
        return sum(self.filled.values())


async def backfill(
    model: EmbedderName,
    *,
    encoder: Encoder,
    store: BackfillStore,
    batch: int = BATCH,
    tenants: list[str] | None = None,
    limit: int | None = None,
    lacking: Mapping[str, int] | None = None,
    started: Callable[[int], None] = lambda total: None,
    progressed: Callable[[int], None] = lambda done: None,
) -> Backfilled:
    """Embed every stored chunk lacking `model`'s vector with `encoder` and store it, `batch`
    chunks at a time, under each tenant's policy (`tenants`: only these; `limit`: stop
    after that many chunks; `lacking`: what `store.tenants` just said, not asked again).
    `started` hears how many chunks lack it, `progressed` how many each batch handled."""
    if lacking is None:
        lacking = await store.tenants(model)
    chosen = {t: n for t, n in lacking.items() if tenants is None or t in tenants}
    started(sum(chosen.values()))
    filled: dict[str, int] = {}
    handled = 0
    for tenant in chosen:
        if limit is not None and handled >= limit:
            break
        filled[tenant] = 0
        seen: set[uuid.UUID] = set()
        while size := batch if limit is None else min(batch, limit - handled):
            chunks = [c for c in await store.lacking(tenant, model, size) if c[0] not in seen]
            if not chunks:
                break
            vectors = await encoder.encode([text for _, text in chunks])
            ids = [chunk_id for chunk_id, _ in chunks]
            filled[tenant] += await store.fill(tenant, model, dict(zip(ids, vectors, strict=True)))
            seen.update(ids)  # never the same chunk twice, should a write not take
            handled += len(chunks)
            progressed(len(chunks))
    return Backfilled(filled)

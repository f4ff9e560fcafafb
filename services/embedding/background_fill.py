"""Secondary models' vectors filled in the background by the embedding service itself.

Chunks are embedded as they are indexed by the primary model and by the secondary models
the experiment's arms use, except the deferred ones (`PILLARS_EMBEDDERS_DEFERRED`), which
are too slow to keep up with indexing on small machines. Those, and chunks indexed before
an arm started using a model, would otherwise wait for `pillars index backfill`: instead,
each round fills up to a few dozen of them for every model an arm (live or shadow) of the
experiment in force retrieves with, while no chunk batch has arrived for a while (indexing
keeps the cores), and on one replica at a time (a Postgres advisory lock), so the vectors
catch up on their own in the quiet moments, through the same idempotent backfill.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from services.embedding.backfill import BATCH, Backfilled, BackfillStore, backfill
from services.embedding.ports import Encoder
from shared.contracts.embedders import EmbedderName

__all__ = ["Claims", "FillStore", "Quiet", "fill_round"]


class Claims(Protocol):
    """One replica at a time: a claim is held by whoever took it first until it is let go."""

    def claim(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Hold `name` for the block if no one else does; yield whether it is held."""
        ...


class FillStore(BackfillStore, Claims, Protocol):
    """The chunks lacking a model's vector, filled by one replica at a time."""


class Quiet:
    """How long it has been since the service last indexed chunks."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = float("-inf")

    def busy(self) -> None:
        """Note that chunks are being indexed now."""
        self._last = self._clock()

    def for_at_least(self, seconds: float) -> bool:
        """Return whether no chunks have been indexed for `seconds`."""
        return self._clock() - self._last >= seconds


async def fill_round(
    models: Iterable[EmbedderName],
    *,
    encoder_of: Callable[[EmbedderName], Awaitable[Encoder]],
    store: FillStore,
    limit: int,
    batch: int = BATCH,
) -> dict[EmbedderName, Backfilled]:
    """Fill up to `limit` chunks lacking each of `models`' vectors, `batch` at a time, for
    the models this replica could claim; a model's encoder is asked for (and may load) only
    when some chunk lacks its vector. Return what was filled, per model."""
    done: dict[EmbedderName, Backfilled] = {}
    for model in sorted(models):
        async with store.claim(f"pillars.embedding.fill.{model}") as held:
            if not held or not (lacking := await store.tenants(model)):
                continue
            encoder = await encoder_of(model)
            done[model] = await backfill(
                model, encoder=encoder, store=store, batch=batch, limit=limit, lacking=lacking
            )
    return done

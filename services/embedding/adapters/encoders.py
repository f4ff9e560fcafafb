"""Pick the embedding backend named by the settings."""

from __future__ import annotations

from services.embedding.adapters.threaded_encoder import ThreadedEncoder
from services.embedding.config import EmbeddingSettings
from shared.models import model_folder
from shared.settings import cache_dir

__all__ = ["load_encoder"]


def load_encoder(settings: EmbeddingSettings, *, threads: int | None = None) -> ThreadedEncoder:
    """Load the configured model on the configured backend (exporting to ONNX once if asked),
    with `threads` in its intra-op pool (default: the settings')."""
    folder = model_folder(settings.embedding_model_path)
    threads = threads or settings.embedding_threads
    if settings.embedding_backend == "torch":
        from services.embedding.adapters.sentence_encoder import SentenceEncoder

        return SentenceEncoder(folder, batch_size=settings.embedding_batch_size, threads=threads)
    from services.embedding.adapters.onnx_encoder import OnnxEncoder

    return OnnxEncoder(
        folder,
        variant=settings.embedding_backend,
        cache_root=cache_dir() / "onnx",
        batch_size=settings.embedding_batch_size,
        threads=threads,
    )

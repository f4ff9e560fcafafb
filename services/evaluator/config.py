"""Evaluator settings: how often it reports, its sliding window, its A/B decision rule."""

from __future__ import annotations

from pydantic import Field

from shared.generators import GeneratorBlock
from shared.kit.settings import PillarsSettings

__all__ = ["EvaluatorSettings"]


class EvaluatorSettings(PillarsSettings):
    """`PILLARS_*` settings of the evaluator."""

    evaluator_report_interval_s: float = Field(
        default=10.0, gt=0, description="Seconds between reports (arm metrics, A/B, drift)."
    )
    evaluator_window_s: float = Field(
        default=3600.0, gt=0, description="The sliding window's length, besides cumulative."
    )
    ab_alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Chance of ever naming a false winner."
    )
    ab_relative_effect: float = Field(
        default=0.1, gt=0, description="Expected relative effect: the mSPRT mixture's scale."
    )
    ab_equivalence: float = Field(
        default=0.02, ge=0, description="Relative margin within which arms count as equal."
    )
    ab_min_samples: int = Field(
        default=200, ge=1, description="Observations per arm before any decision."
    )
    judge: GeneratorBlock | None = Field(
        default=None,
        description="LLM-as-judge: a generator (JSON: kind local or openai, model, base_url, "
        "...) that rates every answer 1-5; unset = no judge.",
    )

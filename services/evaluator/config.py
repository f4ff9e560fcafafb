"""Evaluator settings: how often it reports, its sliding window, its A/B decision rule, and
the loop it runs for the classifiers it manages (`loop_*`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events import ModelKind
from shared.generators import GeneratorBlock
from shared.kit.settings import PillarsSettings

__all__ = ["EvaluatorSettings", "LoopModel"]


class LoopModel(BaseModel):
    """A model the loop manages: what trains it, and the experiment whose arms serve it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="The model's registry name.")
    tenant: str = Field(min_length=1, description="The tenant whose labels train it.")
    solution: str = Field(default="text-classifier", description="The solution it classifies for.")
    kind: ModelKind = "logreg"
    experiment: str = Field(min_length=1, description="The experiment whose arms serve it.")
    production_arm: str = Field(
        default="control", description="The experiment's arm that serves the production version."
    )


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
    loop_models: list[LoopModel] = Field(
        default_factory=list,
        description="JSON list of the models the loop manages: name, tenant, solution, kind, "
        "experiment, production_arm; empty = no loop.",
    )
    loop_interval_s: float = Field(default=30.0, gt=0, description="Seconds between loop rounds.")
    loop_new_labels: int = Field(
        default=500, ge=1, description="New labels since the last training that trigger one."
    )
    loop_retrain_min_labels: int = Field(
        default=50,
        ge=0,
        description="New labels the drift and accuracy triggers need (the same labels would "
        "train the same model), and labelled predictions the accuracy window needs.",
    )
    loop_accuracy_drop: float = Field(
        default=0.05,
        ge=0,
        description="Trigger when the production arm's windowed accuracy is this far below "
        "its cumulative accuracy.",
    )
    loop_holdout_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="The newest labels held out for the offline gate."
    )
    loop_offline_margin: float = Field(
        default=0.02,
        ge=0,
        description="Offline gate: a candidate is rejected when the bootstrap interval of its "
        "macro-F1 minus production's lies wholly below minus this margin.",
    )
    loop_shadow_labels: int = Field(
        default=200, ge=1, description="Labelled shadow predictions before it challenges."
    )
    loop_challenger_steps: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [0.1, 0.5],
        min_length=1,
        description="The challenger's shares of the production arm's traffic, step by step.",
    )
    loop_step_min_labels: int = Field(
        default=200, ge=1, description="Labelled challenger predictions per step before the next."
    )
    loop_business_metric: Literal["ctr", "conversion_rate", "mean_rating"] | None = Field(
        default=None,
        description="A business metric the challenger must not lose on, besides accuracy.",
    )
    loop_max_labels: int = Field(
        default=5000,
        ge=1,
        description="Labelled challenger predictions after which no winner means archive it.",
    )
    loop_latency_p99_ratio: float = Field(
        default=1.5, gt=0, description="Guardrail: challenger p99 latency over production's."
    )
    loop_latency_min_excess_ms: float = Field(
        default=50.0,
        ge=0,
        description="Guardrail: a latency breach also needs the challenger's p99 this many "
        "milliseconds above production's (a small sample's p99 is nearly its maximum).",
    )
    loop_error_rate_margin: float = Field(
        default=0.02, ge=0, description="Guardrail: challenger fallback rate above production's."
    )
    loop_cost_ratio: float = Field(
        default=1.5, gt=0, description="Guardrail: challenger cost per request over production's."
    )
    loop_guardrail_min_predictions: int = Field(
        default=50, ge=1, description="Predictions per arm before the guardrails are checked."
    )
    loop_cooldown_s: float = Field(
        default=3600.0, ge=0, description="Seconds after a promotion before the next one."
    )
    loop_training_timeout_s: float = Field(
        default=1800.0, gt=0, description="A training that registered nothing by then is given up."
    )

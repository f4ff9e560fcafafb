"""What the evaluator publishes: scores, arm metrics, A/B verdicts, drift (topic `evaluations`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.events.base import Event, ModelRef

__all__ = ["ABVerdict", "ArmMetrics", "DriftReport", "Evaluation"]


class ArmMetrics(BaseModel):
    """One arm's metrics over a window (`cumulative`, or the last `window_s` seconds)."""

    model_config = ConfigDict(frozen=True)

    window: Literal["cumulative", "sliding"]
    window_s: float | None = None
    predictions: int = Field(ge=0)
    mean_relevance: float | None = None
    mean_groundedness: float | None = None
    mean_judge_score: float | None = Field(
        default=None, description="Mean LLM-as-judge score (0..1) where a judge is configured."
    )
    judged: int = Field(default=0, ge=0, description="Predictions the judge rated.")
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    cost_usd: float = 0.0
    ctr: float | None = Field(default=None, description="Share of predictions clicked.")
    conversion_rate: float | None = None
    ratings: int = 0
    mean_rating: float | None = None
    csat: float | None = Field(default=None, description="Share of ratings of 4 or 5.")
    thumbs_up_rate: float | None = None
    reviews: int = 0
    review_correct_rate: float | None = None
    labelled: int = 0
    accuracy: float | None = None
    macro_precision: float | None = None
    macro_recall: float | None = None
    macro_f1: float | None = None
    per_class: dict[str, dict[str, float]] = Field(default_factory=dict)
    confusion_labels: list[str] = Field(default_factory=list)
    confusion_matrix: list[list[int]] = Field(default_factory=list)


class ABVerdict(BaseModel):
    """The effect of an arm over the control on one metric, always-valid, and the decision."""

    model_config = ConfigDict(frozen=True)

    metric: str
    control: str
    treatment: str
    effect: float
    relative_effect: float
    ci_low: float | None = Field(description="None: unbounded (too few observations yet).")
    ci_high: float | None = Field(description="None: unbounded (too few observations yet).")
    p_value: float
    decision: Literal["keep running", "winner", "no difference"]
    winner: str | None = None
    n_control: int
    n_treatment: int


class DriftReport(BaseModel):
    """A distribution's shift between a reference window and the current one."""

    model_config = ConfigDict(frozen=True)

    signal: Literal["query_embeddings", "predictions", "labels"]
    statistic: float
    method: str
    p_value: float | None = None
    severity: Literal["none", "low", "medium", "high"]
    reference_n: int
    current_n: int


class Evaluation(Event):
    """What the evaluator publishes (topic `evaluations`), by `kind`: one prediction's scores
    (`prediction`), an arm's metrics over a window (`arm_metrics`), an A/B decision
    (`ab_decision`) or a drift report (`drift`)."""

    # Read by no service, only by dashboards and operators: a figure that is not finite
    # stays as it was (JSON writes it as null) rather than failing its producer.
    model_config = ConfigDict(allow_inf_nan=True)

    key_field: ClassVar[str] = "subject"

    kind: Literal["prediction", "arm_metrics", "ab_decision", "drift"] = "prediction"
    subject: str = Field(description="The request id for `prediction`, else the experiment.")
    request_id: str | None = None
    experiment: str
    variant: str | None = None
    retrieval_relevance: float | None = Field(
        default=None,
        description="Mean cosine similarity of the query to the first passages (see "
        "`relevance_basis`): one scale for every retrieval mode and depth.",
    )
    relevance_basis: str | None = Field(
        default=None,
        description="The score `retrieval_relevance` and `top_score` use, e.g. `cosine@3`: "
        "the cosine similarity of the first 3 passages.",
    )
    top_score: float | None = Field(
        default=None, description="The best passage's cosine similarity to the query."
    )
    groundedness: float | None = Field(
        default=None, description="Share of the answer's words found in the retrieved passages."
    )
    judge_score: float | None = Field(
        default=None, description="The LLM-as-judge rating scaled to 0..1, where one is set."
    )
    judge_model: ModelRef | None = None
    judge_note: str = Field(default="", description="Why the judge gave no score.")
    variant_predictions: int | None = Field(default=None, ge=0)
    variant_mean_relevance: float | None = None
    metrics: ArmMetrics | None = None
    verdict: ABVerdict | None = None
    drift: DriftReport | None = None

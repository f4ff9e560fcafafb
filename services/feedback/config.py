"""Feedback settings: waiting for predictions, the HTTP API, the review queue's policy."""

from __future__ import annotations

from pydantic import Field

from shared.kit.settings import PillarsSettings

__all__ = ["FeedbackSettings"]


class FeedbackSettings(PillarsSettings):
    """`PILLARS_*` settings of the feedback service."""

    feedback_wait_s: float = Field(
        default=10.0, ge=0, description="Feedback older than its prediction waits this long."
    )
    feedback_http_host: str = Field(
        default="127.0.0.1", description="Where the HTTP API and review page listen."
    )
    feedback_http_port: int | None = Field(
        default=8090,
        ge=0,
        le=65535,
        description="Port of the HTTP API and review page (replicas share it); unset = none.",
    )
    feedback_tokens: list[str] = Field(
        default_factory=list,
        description='Bearer tokens of the HTTP API, JSON `["token", ...]`; none = refuse all.',
    )
    review_sample_rate: float = Field(
        default=0.05, ge=0, le=1, description="Share of each arm's predictions sent to review."
    )
    review_sample_rates: dict[str, float] = Field(
        default_factory=dict,
        description='Per arm, JSON `{"experiment/variant": rate}`; others use the default.',
    )
    review_confidence_below: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Predictions whose best passage scores below this all go to review.",
    )

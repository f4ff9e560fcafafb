"""Feedback settings: waiting for predictions, the HTTP API, the review queue's policy."""

from __future__ import annotations

from pydantic import Field

from shared.kit.settings import PillarsSettings

__all__ = ["FeedbackSettings"]


class FeedbackSettings(PillarsSettings):
    """`PILLARS_*` settings of the feedback service."""

    feedback_wait_s: float = Field(
        default=2.0,
        ge=0,
        description="Feedback ahead of its prediction waits in line this long, then is parked.",
    )
    feedback_park_s: float = Field(
        default=86400.0,
        gt=0,
        description="Parked feedback whose prediction has not come this long after goes to "
        "the DLQ.",
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
    feedback_max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1,
        description="Largest request body the HTTP API reads; a bigger one is refused (413).",
    )
    feedback_rate_per_s: float = Field(
        default=20.0,
        gt=0,
        description="Calls a second each token may make to a replica's HTTP API (login "
        "attempts: each client address); beyond the burst, 429 with Retry-After.",
    )
    feedback_rate_burst: int = Field(
        default=40, ge=1, description="Calls a token may make at once before the rate applies."
    )
    review_session_s: int = Field(
        default=8 * 3600, ge=60, description="How long a review page login lasts."
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

"""Feedback settings: how long feedback may wait for its prediction."""

from __future__ import annotations

from pydantic import Field

from shared.settings import PillarsSettings

__all__ = ["FeedbackSettings"]


class FeedbackSettings(PillarsSettings):
    """`PILLARS_*` settings of the feedback service."""

    feedback_wait_s: float = Field(
        default=10.0, ge=0, description="Feedback older than its prediction waits this long."
    )

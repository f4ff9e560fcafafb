"""Feedback assembled: the prediction ledger and the label store, real or given by a test,
and the review policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from services.feedback.adapters.pg_ledger import PgPredictionLedger
from services.feedback.adapters.pg_park import PgFeedbackPark
from services.feedback.config import FeedbackSettings
from services.feedback.ports import FeedbackPark, Labels, PredictionLedger, ReviewPolicy
from shared.kit.db import PostgresAdapters
from shared.labels import PgLabelStore

__all__ = ["FeedbackDependencies", "bootstrap", "review_policy"]


@dataclass(frozen=True)
class FeedbackDependencies:
    """Everything feedback's handlers and HTTP API need, built once per process."""

    settings: FeedbackSettings
    ledger: PredictionLedger
    policy: ReviewPolicy
    labels: Labels
    park: FeedbackPark


def review_policy(settings: FeedbackSettings) -> ReviewPolicy:
    """Return which predictions go to human review, as the settings say."""
    return ReviewPolicy(
        sample_rate=settings.review_sample_rate,
        sample_rates=settings.review_sample_rates,
        confidence_below=settings.review_confidence_below,
    )


@asynccontextmanager
async def bootstrap(
    settings: FeedbackSettings,
    *,
    ledger: PredictionLedger | None = None,
    labels: Labels | None = None,
    park: FeedbackPark | None = None,
) -> AsyncIterator[FeedbackDependencies]:
    """Build feedback's dependencies from `settings`; a test overrides the ledger, the
    label store and the park (and then no Postgres is opened for them)."""
    async with AsyncExitStack() as stack:
        postgres = PostgresAdapters(
            stack, lambda: settings.dsn, service=settings.database_service("feedback")
        )
        ledger = await postgres.built(ledger, PgPredictionLedger)
        labels = await postgres.built(labels, PgLabelStore)
        park = await postgres.built(park, PgFeedbackPark)
        yield FeedbackDependencies(settings, ledger, review_policy(settings), labels, park)

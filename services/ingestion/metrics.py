"""The ingestion service's own Prometheus series (served with the kit's on its endpoint)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["REQUESTS_REFUSED", "observe_refusal"]

REQUESTS_REFUSED = Counter(
    "pillars_requests_refused",
    "Requests answered at once as refused because their tenant was over its rate.",
    ["tenant"],
)


def observe_refusal(tenant: str) -> None:
    """Count one of `tenant`'s requests refused at the door."""
    REQUESTS_REFUSED.labels(tenant).inc()

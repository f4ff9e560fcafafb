"""Ingestion settings: chunking limits, the experiment that seeds a fresh database, and each
tenant's request rate."""

from __future__ import annotations

from pydantic import Field

from services.ingestion.fairness import TenantLimiter, TenantRate
from shared.contracts.events import TenantId
from shared.experiments import Experiment
from shared.kit.settings import PillarsSettings

__all__ = ["IngestionSettings"]


class IngestionSettings(PillarsSettings):
    """`PILLARS_*` settings of the ingestion service."""

    chunk_size_tokens: int = Field(
        default=200,
        ge=16,
        description="Most model tokens in a chunk; at most the model's window less 2.",
    )
    chunk_overlap_tokens: int = Field(
        default=32, ge=0, description="Tokens of whole sentences repeated in the next chunk."
    )
    max_document_bytes: int = Field(
        default=1_000_000, ge=1, description="Larger documents are refused to the DLQ."
    )
    experiment: Experiment = Field(
        default_factory=Experiment,
        description="JSON: name, salt, unit, arms[name, weight, solution, top_k, model_version, "
        "shadow]. Seeds a fresh database; then the version stored in Postgres is in force "
        "(`pillars experiment`), and its name is the experiment this service follows.",
    )
    tenant_rates: dict[TenantId, TenantRate] = Field(
        default_factory=dict,
        description='JSON `{"tenant": {"rate": r, "burst": b}}`: requests per second a tenant may '
        "send to one ingestion replica (burst: at once; default one second's). Over it, a "
        "request is answered at once by a prediction whose `rejected` says why.",
    )
    default_tenant_rate: float | None = Field(
        default=None, gt=0, description="The rate of tenants not in TENANT_RATES; unset = none."
    )
    default_tenant_burst: float | None = Field(
        default=None, ge=1, description="The burst of tenants not in TENANT_RATES."
    )

    def limiter(self) -> TenantLimiter:
        """Return the per-tenant token buckets these settings describe (none: no limits)."""
        default = None
        if self.default_tenant_rate is not None:
            default = TenantRate(rate=self.default_tenant_rate, burst=self.default_tenant_burst)
        return TenantLimiter(self.tenant_rates, default)

"""Per-tenant fairness at the door: a token bucket per tenant, so one tenant's flood is
answered at once with a refusal instead of queueing ahead of every other tenant's requests.

Why refuse rather than delay: the `requests` topic is keyed by request id, so each
partition mixes tenants and one consumer handles a partition in order; holding an
over-limit request back in line would hold back every request behind it, the quiet
tenants' too. A refusal costs the flooding tenant one cheap prediction (`rejected` says
why) and costs nobody else anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TenantLimiter", "TenantRate", "TokenBucket"]


class TenantRate(BaseModel):
    """How fast one tenant may send requests: `rate` per second on average, `burst` at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(gt=0, description="Requests per second, on average.")
    burst: float | None = Field(
        default=None, ge=1, description="Requests at once after a quiet spell; None: one second's."
    )

    @property
    def capacity(self) -> float:
        """Return the bucket's size: `burst`, or one second's worth (at least one request)."""
        return self.burst if self.burst is not None else max(1.0, self.rate)


@dataclass
class TokenBucket:
    """A bucket of `capacity` tokens refilled at `rate` per second; a request takes one."""

    rate: float
    capacity: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, now: float) -> bool:
        """Take one token at time `now` (seconds, monotonic); return whether there was one."""
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now if self.updated is None else max(self.updated, now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait_s(self) -> float:
        """Return how long until the next token (0 when one is there)."""
        return max(0.0, (1 - self.tokens) / self.rate)


@dataclass
class TenantLimiter:
    """One token bucket per tenant: the listed tenants' own rates, the others' the default
    (no default: unlisted tenants are not limited)."""

    rates: Mapping[str, TenantRate] = field(default_factory=dict)
    default: TenantRate | None = None
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, TokenBucket] = field(default_factory=dict, init=False)

    @property
    def enabled(self) -> bool:
        """Tell whether any tenant is limited."""
        return bool(self.rates) or self.default is not None

    def refusal(self, tenant: str) -> str | None:
        """Take one of `tenant`'s tokens; return why its request is refused, or None."""
        limit = self.rates.get(tenant, self.default)
        if limit is None:
            return None
        bucket = self._buckets.get(tenant)
        if bucket is None:
            bucket = self._buckets[tenant] = TokenBucket(limit.rate, limit.capacity)
        if bucket.take(self.clock()):
            return None
        return (
            f"tenant {tenant!r} is over its rate of {limit.rate:g} requests/s "
            f"(burst {limit.capacity:g}); retry in {bucket.wait_s():.2f} s"
        )

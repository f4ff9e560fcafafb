"""The per-tenant token buckets, on a fake clock."""

import pytest
from pydantic import ValidationError

from services.ingestion.config import IngestionSettings
from services.ingestion.fairness import TenantLimiter, TenantRate, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_lets_a_burst_through_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_s() == pytest.approx(0.5)
    assert not bucket.take(0.4)  # 0.8 of a token
    assert bucket.take(0.5)  # the first whole one
    assert not bucket.take(0.5)
    # A long quiet spell fills it to its capacity, never beyond.
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_a_clock_going_back_neither_refills_nor_breaks_the_bucket() -> None:
    bucket = TokenBucket(rate=1.0, capacity=1.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert not bucket.take(10.5)
    assert bucket.take(11.0)


def test_each_tenant_has_its_own_bucket_and_unlisted_ones_take_the_default() -> None:
    clock = FakeClock()
    limiter = TenantLimiter(
        {"flood": TenantRate(rate=1, burst=2)}, default=TenantRate(rate=10), clock=clock
    )
    assert [limiter.refusal("flood") for _ in range(2)] == [None, None]
    reason = limiter.refusal("flood")
    assert reason is not None
    assert "'flood'" in reason
    assert "1 requests/s" in reason
    assert "burst 2" in reason
    assert "retry in 1.00 s" in reason
    # The flood spends only its own tokens: another tenant's are all there.
    assert all(limiter.refusal("quiet") is None for _ in range(10))
    assert limiter.refusal("quiet") is not None
    clock.now += 1.0
    assert limiter.refusal("flood") is None


def test_without_a_default_unlisted_tenants_are_not_limited() -> None:
    limiter = TenantLimiter({"flood": TenantRate(rate=1)}, clock=FakeClock())
    assert all(limiter.refusal("other") is None for _ in range(1000))
    assert limiter.refusal("flood") is None
    assert limiter.refusal("flood") is not None  # burst: one second's worth, one request


def test_no_setting_means_no_limit() -> None:
    limiter = IngestionSettings().limiter()
    assert not limiter.enabled
    assert all(limiter.refusal("acme") is None for _ in range(1000))


def test_settings_read_the_rates_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PILLARS_TENANT_RATES", '{"flood": {"rate": 5, "burst": 10}}')
    monkeypatch.setenv("PILLARS_DEFAULT_TENANT_RATE", "50")
    limiter = IngestionSettings().limiter()
    assert limiter.rates == {"flood": TenantRate(rate=5, burst=10)}
    assert limiter.default == TenantRate(rate=50)
    assert limiter.default.capacity == 50


@pytest.mark.parametrize(
    "rates",
    [
        '{"Not A Tenant": {"rate": 5}}',
        '{"flood": {"rate": 0}}',
        '{"flood": {"rate": 5, "burst": 0.5}}',
        '{"flood": {"rate": 5, "brust": 10}}',
    ],
)
def test_bad_rates_are_refused_at_start(monkeypatch: pytest.MonkeyPatch, rates: str) -> None:
    monkeypatch.setenv("PILLARS_TENANT_RATES", rates)
    with pytest.raises(ValidationError):
        IngestionSettings()

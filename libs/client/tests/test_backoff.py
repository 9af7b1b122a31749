"""The in-process backoff: doubling from the first delay, capped, jittered around it."""

from __future__ import annotations

import pytest

from cr_client.backoff import Backoff


def test_delays_double_then_stay_at_the_cap_without_jitter() -> None:
    backoff = Backoff(0.1, 2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(1, 8)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    )
    assert backoff.delay(0) == pytest.approx(0.1)
    assert backoff.delay(10_000) == pytest.approx(2.0)  # no overflow


def test_jitter_spreads_each_delay_by_its_fraction_both_ways() -> None:
    backoff = Backoff(1.0, 10.0, jitter=0.25)
    assert backoff.delay(1, rng=lambda: 0.0) == pytest.approx(0.75)
    assert backoff.delay(1, rng=lambda: 0.5) == pytest.approx(1.0)
    assert backoff.delay(3, rng=lambda: 0.999999) == pytest.approx(5.0, rel=1e-5)
    assert 0.75 <= backoff.delay(1) <= 1.25

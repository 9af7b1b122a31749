"""Exponential backoff with ±25% jitter, capped, deterministic for a seed."""

from __future__ import annotations

import random

import pytest

from recovery.strategies.retry import backoff_delay


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_delay_is_the_exponential_step_within_25_percent(n: int) -> None:
    for seed in range(50):
        delay = backoff_delay(n, 2.0, 1000.0, 0.25, random.Random(seed))
        assert 0.75 * 2.0 * 2 ** (n - 1) <= delay <= 1.25 * 2.0 * 2 ** (n - 1)


def test_delay_never_exceeds_the_cap() -> None:
    assert all(backoff_delay(20, 2.0, 60.0, 0.25, random.Random(s)) <= 60.0 for s in range(100))


def test_the_same_seed_gives_the_same_delay() -> None:
    assert backoff_delay(3, 2.0, 60, 0.25, random.Random("f")) == backoff_delay(
        3, 2.0, 60, 0.25, random.Random("f")
    )

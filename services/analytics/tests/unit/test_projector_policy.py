"""How long the projector waits while the store is down, and when it must hold a batch."""

from __future__ import annotations

import pytest

from analytics.app import retry_policy
from analytics.config import Settings
from analytics.projector import RetryPolicy
from contracts import BusSettings


def test_nak_delay_doubles_per_delivery_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_s=0.5, max_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("max_deliver", "deliveries", "hold"),
    [(20, 1, False), (20, 9, False), (20, 10, True), (3, 1, False), (3, 2, True), (0, 99, False)],
)
def test_a_batch_is_held_once_it_has_used_half_of_max_deliver(
    max_deliver: int, deliveries: int, hold: bool
) -> None:
    assert RetryPolicy(max_deliver=max_deliver).must_hold(deliveries) is hold


def test_policy_follows_the_consumer_limits_from_settings() -> None:
    nats = BusSettings(max_deliver=7, ack_wait_s=12)
    policy = retry_policy(Settings(nats=nats, retry_initial_s=0.2, retry_max_s=4))
    assert policy == RetryPolicy(initial_s=0.2, max_s=4, max_deliver=7, hold_s=4.0)

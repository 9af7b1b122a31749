"""Prometheus metrics of the recovery service."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from contracts.backend import BreakerState

DECISIONS: Final = Counter("cr_decisions_total", "Recovery decisions published", ["strategy"])
BREAKER_STATE: Final = Gauge(
    "cr_breaker_state", "Circuit breaker per backend (0 closed, 1 half-open, 2 open)", ["backend"]
)
JOBS_BY_STATUS: Final = Gauge("cr_jobs_by_status", "Jobs known to recovery, by status", ["status"])
BREAKER_LEVEL: Final = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
REQUESTS_NOT_APPLIED: Final = Counter(
    "cr_operator_requests_not_applied_total",
    "Cancel/retry requests the job status did not allow (raced a change, or sent raw)",
    ["request"],
)

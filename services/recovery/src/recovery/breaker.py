"""Per-backend circuit breaker as a pure state machine (resilience4j's count/time window).

::

    CLOSED ──failure rate ≥ threshold over the window (≥ min_calls calls)──▶ OPEN
    OPEN ──open_until reached──▶ HALF_OPEN (one probe dispatch may go)
    HALF_OPEN ──the probe succeeds──▶ CLOSED
    HALF_OPEN ──the probe fails──▶ OPEN again, for twice as long (capped)
    any ──quarantine──▶ OPEN

Fleet-aware (Envoy's outlier detection): a breaker opens on its rate only when its backend
is an *outlier*, its failure rate at least ``outlier_margin`` above the rest of the fleet's
over the same window, and only while fewer than ``max_ejected_fraction`` of the fleet
(at least one backend) is already out. When every backend fails alike, the failures are
the jobs', not the backends': taking backends out would only turn them into aborts.

Attribution is honest: a crash counts once against its backend, not once per prompt it
lost (crash-kind failures within ``incident_s`` of one already counted are the same
incident); a stall counts only when another job stalled there too within
``stall_window_s`` (one stuck workflow is that job's problem); job-attributable classes
never reach the breaker (`BACKEND_ATTRIBUTABLE`).

Every input names the event that caused it, so a redelivered event counts once. Times are
epoch seconds taken from the events themselves (replay gives the same answer): the clock
is always an argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Final

from contracts.backend import BreakerState
from contracts.taxonomy import FailureClass
from recovery.outliers import Fleet, may_eject

BACKEND_ATTRIBUTABLE: Final = frozenset(
    {
        FailureClass.BACKEND_UNREACHABLE,
        FailureClass.BACKEND_ERROR,
        FailureClass.BACKEND_WEDGED,
        FailureClass.GPU_FAULT,
        FailureClass.DISK_FULL,
        FailureClass.STALLED,
        FailureClass.INTERRUPTED,
    }
)
"""Failures that may count against a backend. Job-attributable ones (validation, a model
missing there, node errors, OOM of a too-big job) and EXTERNAL_SERVICE_ERROR never do."""

CRASH_KIND: Final = frozenset(
    {FailureClass.BACKEND_UNREACHABLE, FailureClass.INTERRUPTED, FailureClass.BACKEND_WEDGED}
)
"""Classes one backend crash or restart gives every prompt it held: one incident."""

ALLOWED: Final = frozenset(
    {
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
    }
)
"""Every transition the machine may make (the state may also stay the same)."""

OK: Final = "ok"
FAIL: Final = "fail"
CRASH: Final = "crash"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """resilience4j-style thresholds: the last `window_calls` calls within `window_s`, at
    least `min_calls` of them, `failure_rate` or more failed → open for `open_timeout_s`,
    doubled on each failed probe up to `max_open_s`. A quarantine (a wedged worker, which
    the monitor restarts) opens it for `quarantine_s`, doubled the same way. Half-open, the
    first probe that runs closes it and `probe_failures` failed probes open it again (one
    failed probe may owe its failure to its own job: a fault that travels with the job)."""

    window_calls: int = 20
    window_s: float = 60.0
    min_calls: int = 10
    failure_rate: float = 0.5
    open_timeout_s: float = 30.0
    max_open_s: float = 300.0
    quarantine_s: float = 10.0
    incident_s: float = 30.0
    stall_window_s: float = 300.0
    outlier_margin: float = 0.25
    max_ejected_fraction: float = 0.34
    probe_failures: int = 2


def fleet_of(
    breakers: Iterable[Breaker], backend_id: str, at: float, config: BreakerConfig
) -> Fleet:
    """The fleet as seen from `backend_id` at `at` (every other breaker, ticked)."""
    others = [tick(b, at, config) for b in breakers if b.backend_id != backend_id]
    recent = [c for b in others for c in b.calls if at - c[1] < config.window_s]
    return Fleet(
        size=len(others) + 1,
        ejected=sum(1 for b in others if b.state is BreakerState.OPEN),
        calls=len(recent),
        failed=sum(1 for _, _, outcome in recent if outcome != OK),
    )


@dataclass(frozen=True, slots=True)
class Breaker:
    """One backend's breaker.

    Attributes:
        calls: (event id, time, outcome) of the calls in the window; outcome is
            ``ok``, ``fail`` or ``crash``.
        stalls: (job id, time) of stalls not yet counted (waiting for a second job).
        opened_at: when it last opened (None while it never did).
        open_until: when an open breaker lets a probe through (None unless open).
        reopens: failed probes in a row (the open time doubles with each).
        cause: the event id of the last transition (derives the BreakerChanged id).
    """

    backend_id: str
    state: BreakerState = BreakerState.CLOSED
    calls: tuple[tuple[str, float, str], ...] = ()
    stalls: tuple[tuple[str, float], ...] = ()
    opened_at: float | None = None
    open_until: float | None = None
    reopens: int = 0
    reason: str = ""
    cause: str = ""

    @property
    def failures(self) -> int:
        """Failed calls in the window."""
        return sum(1 for _, _, outcome in self.calls if outcome != OK)


def tick(breaker: Breaker, now: float, config: BreakerConfig) -> Breaker:
    """OPEN becomes HALF_OPEN once `open_until` has passed."""
    del config  # the open time was fixed when it opened
    if breaker.state is not BreakerState.OPEN or breaker.open_until is None:
        return breaker
    if now < breaker.open_until:
        return breaker
    cause = f"{breaker.cause}:half-open"
    return replace(breaker, state=BreakerState.HALF_OPEN, cause=cause, reason="probing")


def record_failure(
    breaker: Breaker,
    event_id: str,
    at: float,
    config: BreakerConfig,
    reason: str = "",
    failure_class: FailureClass | None = None,
    job_id: str = "",
    dispatched_at: float | None = None,
    fleet: Fleet | None = None,
) -> Breaker:
    """Count one backend-attributable failure (once per incident, stalls corroborated).

    With `fleet`, the rate opens the breaker only where `may_eject` allows; without it the
    backend is judged alone.

    While half-open only the probe's failure counts: a prompt dispatched before the breaker
    let a probe through (`dispatched_at` earlier than `open_until`, e.g. one a crash lost
    and the monitor reported late) belongs to the incident that opened it.
    """
    current = tick(breaker, at, config)
    if current.state is BreakerState.OPEN or _seen(current, event_id):
        return current
    if (
        current.state is BreakerState.HALF_OPEN
        and dispatched_at is not None
        and current.open_until is not None
        and dispatched_at < current.open_until
    ):
        return current
    if failure_class is FailureClass.STALLED:
        stalls = tuple(s for s in current.stalls if at - s[1] < config.stall_window_s)
        if not any(job != job_id for job, _ in stalls):
            return replace(current, stalls=(*stalls, (job_id, at)))
        current = replace(current, stalls=())
    crash = failure_class in CRASH_KIND
    if crash and any(o == CRASH and at - t < config.incident_s for _, t, o in current.calls):
        return current
    calls = _window((*current.calls, (event_id, at, CRASH if crash else FAIL)), at, config)
    if current.state is BreakerState.HALF_OPEN:
        failed_probes = sum(1 for _, _, outcome in calls if outcome != OK)
        if failed_probes < config.probe_failures:
            return replace(current, calls=calls)  # one probe's fault may be the job's own
        return _open(
            current, event_id, at, config, reason or "the probes failed", current.reopens + 1
        )
    failed = sum(1 for _, _, outcome in calls if outcome != OK)
    rate = failed / len(calls)
    if (
        len(calls) >= config.min_calls
        and rate >= config.failure_rate
        and (fleet is None or may_eject(rate, fleet, config))
    ):
        why = reason or "failures"
        return _open(current, event_id, at, config, f"{why}: {failed}/{len(calls)} calls failed", 0)
    return replace(current, calls=calls)


def record_success(breaker: Breaker, event_id: str, at: float, config: BreakerConfig) -> Breaker:
    """Count one success: in the window while closed; the probe's success closes it."""
    current = tick(breaker, at, config)
    if current.state is BreakerState.OPEN or _seen(current, event_id):
        return current
    if current.state is BreakerState.HALF_OPEN:
        return Breaker(
            current.backend_id,
            calls=((event_id, at, OK),),
            reason="the probe succeeded",
            cause=event_id,
            opened_at=current.opened_at,
        )
    return replace(current, calls=_window((*current.calls, (event_id, at, OK)), at, config))


def record_neutral(breaker: Breaker, event_id: str, at: float, config: BreakerConfig) -> Breaker:
    """A job failed on the backend for a reason of its own (validation, OOM, a node error):
    nothing against the backend, but a probe that ran is a verdict — it closes a half-open
    breaker. Otherwise the breaker is left as it is."""
    current = tick(breaker, at, config)
    if current.state is not BreakerState.HALF_OPEN:
        return breaker
    return record_success(current, event_id, at, config)


def quarantine(
    breaker: Breaker, event_id: str, at: float, reason: str, config: BreakerConfig
) -> Breaker:
    """Open the breaker now, whatever its state (a quarantine decision: a wedged worker to
    restart), for the open time; a backend quarantined again right after a probe stays out
    longer."""
    if breaker.state is BreakerState.OPEN and breaker.cause == event_id:
        return breaker
    reopens = breaker.reopens + 1 if breaker.state is BreakerState.HALF_OPEN else breaker.reopens
    opened = _open(breaker, event_id, at, config, reason, reopens)
    until = at + min(config.max_open_s, config.quarantine_s * 2.0 ** min(reopens, 16))
    return replace(opened, open_until=until)


def restarted(breaker: Breaker, event_id: str, at: float, config: BreakerConfig) -> Breaker:
    """The backend was restarted at `at` (a fresh process): an open breaker that opened before
    then goes half-open now, and the first probe judges the new process (a wedged worker's
    quarantine would otherwise keep a healthy backend out for its whole open time)."""
    if breaker.state is not BreakerState.OPEN or (breaker.opened_at or at) > at:
        return breaker
    return tick(replace(breaker, open_until=at, cause=event_id), at, config)


def effective_state(breaker: Breaker, now: float, config: BreakerConfig) -> BreakerState:
    """The state at `now`, counting an elapsed open time."""
    return tick(breaker, now, config).state


def open_for(config: BreakerConfig, reopens: int) -> float:
    """How long the breaker stays open after `reopens` failed probes in a row."""
    return min(config.max_open_s, config.open_timeout_s * 2.0 ** min(reopens, 16))


def _seen(breaker: Breaker, event_id: str) -> bool:
    return any(seen == event_id for seen, _, _ in breaker.calls) or breaker.cause == event_id


def _window(
    calls: tuple[tuple[str, float, str], ...], at: float, config: BreakerConfig
) -> tuple[tuple[str, float, str], ...]:
    recent = tuple(c for c in calls if at - c[1] < config.window_s)
    return recent[-config.window_calls :]


def _open(
    breaker: Breaker, event_id: str, at: float, config: BreakerConfig, reason: str, reopens: int
) -> Breaker:
    return replace(
        breaker,
        state=BreakerState.OPEN,
        calls=(),
        stalls=(),
        opened_at=at,
        open_until=at + open_for(config, reopens),
        reopens=reopens,
        reason=reason,
        cause=event_id,
    )

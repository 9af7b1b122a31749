"""A scripted set of jobs (recovered after 1–3 failures, aborted, cancelled, clean, running)
and the view values computed by hand from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import (
    Abort,
    BackendHealth,
    BackendInventory,
    BreakerChanged,
    BreakerState,
    Dispatch,
    DispatchedPrompt,
    DispatchResumed,
    EmergencyStopRequested,
    FailureClass,
    FailureClassified,
    FailureEvidence,
    GpuSampled,
    InterruptSent,
    JobCancelRequested,
    JobCompleted,
    JobDispatched,
    JobFailed,
    JobProgressed,
    JobRetryRequested,
    JobSubmitted,
    RecoveryDecided,
    Retryability,
    Severity,
    Strategy,
)
from contracts.codec import AnyEvent

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


class Script:
    """Builds one job's events with unique ids and times relative to `T0`."""

    def __init__(self, job_id: str, model: str, t0: datetime = T0) -> None:
        self.job_id = job_id
        self.model = model
        self.t0 = t0
        self.events: list[AnyEvent] = []

    def _env(self, at: float, attempt: int) -> dict[str, Any]:
        n = len(self.events)
        return {
            "event_id": f"{self.job_id}-{n}",
            "job_id": self.job_id,
            "attempt": attempt,
            "occurred_at": self.t0 + timedelta(seconds=at),
            "source": "test/script",
        }

    def submitted(self, at: float) -> Script:
        params = {"ckpt_name": self.model, "steps": 20}
        self.events.append(JobSubmitted(**self._env(at, 0), workflow={}, params=params))
        return self

    def dispatched(self, at: float, attempt: int, backend: str) -> Script:
        prompt = DispatchedPrompt(prompt_id=f"{self.job_id}-p{attempt}")
        self.events.append(
            JobDispatched(
                **self._env(at, attempt),
                backend_id=backend,
                prompts=[prompt],
                client_id="c",
                params={"ckpt_name": self.model},
            )
        )
        return self

    def failed(
        self,
        at: float,
        attempt: int,
        backend: str,
        cls: FailureClass,
        message: str,
        *,
        evidence_in_classified: bool = True,
    ) -> Script:
        evidence = FailureEvidence(surface="execution_error", message=message)
        failed = JobFailed(**self._env(at, attempt), backend_id=backend, evidence=evidence)
        self.events.append(failed)
        self.events.append(
            FailureClassified(
                **self._env(at + 1, attempt),
                failed_event_id=failed.event_id,
                failure_class=cls,
                error_code=str(cls),
                retryable=cls != FailureClass.MODEL_INCOMPATIBLE,
                retryability=Retryability.YES,
                severity=Severity.MEDIUM,
                rule="script",
                backend_id=backend,
                features={"model_name": self.model},
                evidence=evidence if evidence_in_classified else None,
            )
        )
        return self

    def retried(self, at: float, attempt: int, *strategies: Strategy) -> Script:
        action = Dispatch(attempt=attempt + 1, workflows=[{}])
        return self._decided(at, attempt, list(strategies), [action], terminal=False)

    def aborted(self, at: float, attempt: int, *, cancelled: bool = False) -> Script:
        strategy = Strategy.CANCEL if cancelled else Strategy.ABORT
        action = Abort(reason="cancelled" if cancelled else "cannot succeed", cancelled=cancelled)
        return self._decided(at, attempt, [strategy], [action], terminal=True)

    def _decided(
        self,
        at: float,
        attempt: int,
        strategies: list[Strategy],
        actions: list[Any],
        *,
        terminal: bool,
    ) -> Script:
        answers = self.events[-1].event_id
        self.events.append(
            RecoveryDecided(
                **self._env(at, attempt),
                answers_event_id=answers,
                strategy=strategies[0],
                strategies=strategies,
                actions=actions,
                terminal=terminal,
            )
        )
        return self

    def completed(self, at: float, attempt: int, backend: str, duration_s: float = 0.0) -> Script:
        self.events.append(
            JobCompleted(
                **self._env(at, attempt),
                backend_id=backend,
                prompt_ids=[f"{self.job_id}-p{attempt}"],
                duration_s=duration_s,
            )
        )
        return self

    def other(self, at: float, attempt: int, kind: type[Any], **fields: Any) -> Script:
        self.events.append(kind(**self._env(at, attempt), **fields))
        return self


OOM, TIMEOUT, UNKNOWN = FailureClass.GPU_OOM, FailureClass.TIMEOUT, FailureClass.UNKNOWN
S = Strategy


def scripted_jobs(t0: datetime = T0, prefix: str = "") -> list[AnyEvent]:
    """Seven jobs and one retry request; see `EXPECTED` for what the views must say."""
    j1 = (
        Script(f"{prefix}J1", "sdxl", t0)
        .submitted(0)
        .dispatched(1, 1, "b1")
        .failed(11, 1, "b1", OOM, "CUDA out of memory")
        .retried(13, 1, S.FREE_VRAM)
        .dispatched(14, 2, "b1")
        .completed(41, 2, "b1")
    )
    j2 = (
        Script(f"{prefix}J2", "flux", t0)
        .submitted(0)
        .dispatched(1, 1, "b1")
        .failed(21, 1, "b1", OOM, "CUDA out of memory")
        .retried(23, 1, S.REDUCE_PARAMS)
        .dispatched(24, 2, "b2")
        .failed(34, 2, "b2", TIMEOUT, "timed out")
        .retried(36, 2, S.RESUME)
        .dispatched(37, 3, "b2")
        .failed(47, 3, "b2", UNKNOWN, "mystery 400")
        .retried(49, 3, S.RETRY)
        .dispatched(50, 4, "b1")
        .other(60, 4, JobProgressed, backend_id="b1", prompt_id="p")
        .completed(80, 4, "b1", duration_s=25.0)
    )
    j3 = (
        Script(f"{prefix}J3", "sd15", t0)
        .submitted(0)
        .dispatched(1, 1, "b2")
        .failed(6, 1, "b2", FailureClass.MODEL_INCOMPATIBLE, "size mismatch")
        .aborted(8, 1)
    )
    j4 = (
        Script(f"{prefix}J4", "sdxl", t0)
        .submitted(0)
        .dispatched(2, 1, "b1")
        .failed(12, 1, "b1", OOM, "CUDA out of memory")
        .retried(14, 1, S.FREE_VRAM)
        .dispatched(15, 2, "b1")
        .other(20, 2, JobCancelRequested, reason="owner")
        .other(21, 2, InterruptSent, backend_id="b1", prompt_id="p", reason="cancel")
        .failed(22, 2, "b1", FailureClass.CANCELLED, "Processing interrupted")
        .aborted(24, 2, cancelled=True)
    )
    j5 = (
        Script(f"{prefix}J5", "sdxl", t0)
        .submitted(0)
        .dispatched(1, 1, "b1")
        .completed(9, 1, "b1", duration_s=8.0)
    )
    j6 = (
        Script(f"{prefix}J6", "flux", t0)
        .submitted(0)
        .dispatched(1, 1, "b2")
        .failed(4, 1, "b2", UNKNOWN, "mystery 400", evidence_in_classified=False)
        .retried(6, 1, S.RETRY)
        .dispatched(7, 2, "b2")
        .failed(10, 2, "b2", UNKNOWN, "HTTP 400 with no body", evidence_in_classified=False)
        .aborted(12, 2)
    )
    j7 = (
        Script(f"{prefix}J7", "sdxl", t0)
        .submitted(0)
        .dispatched(1, 1, "b1")
        .failed(5, 1, "b1", OOM, "CUDA out of memory")
        .retried(7, 1, S.FREE_VRAM)
        .dispatched(8, 2, "b1")
    )
    j8 = Script(f"{prefix}J8", "sdxl", t0).other(1, 0, JobRetryRequested, requested_by="op")
    return [e for s in (j1, j2, j3, j4, j5, j6, j7, j8) for e in s.events]


def telemetry_and_control(t0: datetime = T0, prefix: str = "") -> list[AnyEvent]:
    """One event of every telemetry and control type, plus a few GPU samples."""

    def env(n: int) -> dict[str, Any]:
        at = t0 + timedelta(seconds=n)
        return {"event_id": f"{prefix}t{n}", "job_id": "-", "occurred_at": at, "source": "test"}

    return [
        BackendHealth(**env(1), backend_id="b1", reachable=True),
        BackendInventory(**env(2), backend_id="b1", node_classes=["KSampler"]),
        BreakerChanged(
            **env(3), backend_id="b2", state=BreakerState.OPEN, previous=BreakerState.CLOSED
        ),
        EmergencyStopRequested(**env(4), reason="drill"),
        DispatchResumed(**env(5)),
        *(GpuSampled(**env(6 + i), backend_id="b1", memory_used=i) for i in range(3)),
    ]


RATE_FIELDS = (
    "jobs",
    "recovered",
    "failed",
    "cancelled",
    "in_progress",
    "recovery_rate",
    "median_attempts",
    "mttr_s",
)


def rate(
    jobs: int,
    recovered: int,
    failed: int,
    cancelled: int,
    in_progress: int,
    recovery_rate: float | None,
    median_attempts: float | None,
    mttr_s: float | None,
) -> dict[str, Any]:
    """One row of a recovery-rate view."""
    return {
        "jobs": jobs,
        "recovered": recovered,
        "failed": failed,
        "cancelled": cancelled,
        "in_progress": in_progress,
        "recovery_rate": recovery_rate,
        "median_attempts": median_attempts,
        "mttr_s": mttr_s,
    }


OVERALL = rate(6, 2, 2, 1, 1, 0.5, 2.0, 44.5)
EXPECTED: dict[str, Any] = {
    "overall": OVERALL,
    "by_class": {
        "GPU_OOM": rate(4, 2, 0, 1, 1, 1.0, 3.0, 44.5),
        "UNKNOWN": rate(2, 1, 1, 0, 0, 0.5, 3.0, 59.0),
        "TIMEOUT": rate(1, 1, 0, 0, 0, 1.0, 4.0, 59.0),
        "MODEL_INCOMPATIBLE": rate(1, 0, 1, 0, 0, 0.0, 1.0, None),
        "CANCELLED": rate(1, 0, 0, 1, 0, None, None, None),
    },
    "by_strategy": {
        "FREE_VRAM": rate(3, 1, 0, 1, 1, 1.0, 2.0, 30.0),
        "REDUCE_PARAMS": rate(1, 1, 0, 0, 0, 1.0, 4.0, 59.0),
        "RESUME": rate(1, 1, 0, 0, 0, 1.0, 4.0, 59.0),
        "RETRY": rate(2, 1, 1, 0, 0, 0.5, 3.0, 59.0),
    },
    "by_backend": {
        "b1": rate(4, 2, 0, 1, 1, 1.0, 3.0, 44.5),
        "b2": rate(3, 1, 2, 0, 0, 1 / 3, 2.0, 59.0),
    },
    "by_model": {
        "sdxl": rate(3, 1, 0, 1, 1, 1.0, 2.0, 30.0),
        "flux": rate(2, 1, 1, 0, 0, 0.5, 3.0, 59.0),
        "sd15": rate(1, 0, 1, 0, 0, 0.0, 1.0, None),
    },
    "error_distribution": {
        "GPU_OOM": 4,
        "UNKNOWN": 3,
        "CANCELLED": 1,
        "MODEL_INCOMPATIBLE": 1,
        "TIMEOUT": 1,
    },
    "failed_gpu_seconds": 10 + (20 + 10 + 10) + 5 + (10 + 7) + (3 + 3) + 4,
    "unknown_rate": 0.3,
    "unknown_messages": [("mystery 400", 2), ("HTTP 400 with no body", 1)],
    "outcomes": {
        "J1": "completed",
        "J2": "completed",
        "J3": "aborted",
        "J4": "cancelled",
        "J5": "completed",
        "J6": "aborted",
        "J7": "in_progress",
    },
}
"""Computed by hand from `scripted_jobs` (MTTR: J1 41−11 = 30 s, J2 80−21 = 59 s)."""

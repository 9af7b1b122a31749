"""`JobClient`: submit ComfyUI jobs, cancel and retry them, stop and resume dispatch; it
reads jobs back through `cr_client.reader.JobReader` (follow, result, history, status)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from contracts import codec
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.eligibility import cancel_refusal, retry_refusal
from contracts.envelope import CONTROL_JOB_ID, derive_event_id, new_event_id, utcnow
from contracts.errors import JobNotEligibleError, JobNotFoundError, SubmitRefusedError
from contracts.job import Binding, InputAsset, JobCancelRequested, JobRetryRequested, JobSubmitted
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus
from contracts.settings import BusSettings
from contracts.workflow import check_size, resolve_bindings, submission_limit, validate_workflow
from cr_client.bus import Bus
from cr_client.reader import IDLE_POLL_S, JobReader, JobResult, is_valid_job_id, terminal_status

__all__ = [
    "IDLE_POLL_S",
    "SUBMITTED_ROLE",
    "JobClient",
    "JobResult",
    "is_valid_job_id",
    "terminal_status",
]

SUBMITTED_ROLE: Final = "submitted"
"""A job's submission event id is ``derive_event_id(job_id, SUBMITTED_ROLE)``: one per job."""


class JobClient(JobReader):
    """The library any program (ours or a user's) uses to run ComfyUI jobs.

    Example:
        async with await JobClient.connect(BusSettings()) as client:
            job_id = await client.submit(workflow, params={"5.width": 768})
            result = await client.result(job_id, timeout=600)
    """

    def __init__(self, bus: Bus, *, source: str = "client") -> None:
        super().__init__(bus)
        self.source = source

    @classmethod
    async def connect(cls, settings: BusSettings, *, source: str = "client") -> JobClient:
        """Connect to NATS (streams are ensured).

        Raises:
            BusUnavailableError: NATS is not reachable.
        """
        return cls(await Bus.connect(settings, name=source), source=source)

    async def __aenter__(self) -> JobClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection."""
        await self.bus.close()

    async def submit(
        self,
        workflow: dict[str, Any],
        params: dict[str, Any] | None = None,
        policy: RecoveryPolicy | None = None,
        *,
        bindings: dict[str, Binding] | None = None,
        expected_outputs: list[str] | None = None,
        inputs: list[InputAsset] | None = None,
        labels: dict[str, str] | None = None,
        job_id: str | None = None,
    ) -> str:
        """Submit a workflow (API format) and return its job id.

        Every parameter must land somewhere: a ``bindings`` entry, or a name of the form
        ``NODE.INPUT`` (``{"5.width": 1024}``); see `contracts.workflow.resolve_bindings`.

        Idempotent per job id: the event id derives from the job id, so submitting again
        after an error (the first publish may have been stored after all) never makes a
        second ``job.submitted``. Given the id of a job that was submitted with the same
        content, it returns that id; with other content, it refuses.

        Raises:
            InvalidWorkflowError: the graph is malformed, or a parameter or binding cannot
                apply (parameter, node and input named).
            WorkflowTooLargeError: the submission is over `submission_limit` (both named).
            SubmitRefusedError: `job_id` is taken by a different submission.
            BusUnavailableError: the event could not be stored (submit again, same job id).
        """
        validate_workflow(workflow)
        params = params or {}
        resolved = resolve_bindings(workflow, params, bindings or {})
        given = job_id is not None
        job_id = job_id or new_event_id()
        if not is_valid_job_id(job_id):
            raise ValueError(f"job id {job_id!r}: use letters, digits, '-', '_' (at most 128)")
        event = JobSubmitted(
            event_id=derive_event_id(job_id, SUBMITTED_ROLE),
            job_id=job_id,
            occurred_at=utcnow(),
            source=self.source,
            workflow=workflow,
            params=params,
            bindings=resolved,
            policy=policy,
            expected_outputs=expected_outputs or [],
            inputs=inputs or [],
            labels=labels or {},
        )
        check_size(len(codec.encode(event)), self.submission_limit)
        if given:
            stored = await self._submission(job_id)
            if stored is not None:
                if _same_request(stored, event):
                    return job_id
                raise SubmitRefusedError(f"job id {job_id} is taken by a different submission")
        await self.bus.publish(event)
        return job_id

    @property
    def submission_limit(self) -> int:
        """The largest encoded submission in bytes (from the server's max_payload)."""
        return submission_limit(self.bus.nc.max_payload)

    async def _standing(self, job_id: str) -> JobStatus:
        """The job's status for an operator action (SUBMITTED while the read model lags).

        Raises:
            JobNotFoundError: neither a read model nor a submission exists.
        """
        try:
            return (await self.status(job_id)).status
        except JobNotFoundError:
            if await self._submission(job_id) is None:
                raise
            return JobStatus.SUBMITTED

    async def cancel(self, job_id: str, reason: str = "") -> None:
        """Ask for the job to stop (its running prompt is interrupted by id).

        Raises:
            JobNotFoundError: no such job.
            JobNotEligibleError: it has already ended (nothing published).
        """
        await self._eligible(job_id, cancel_refusal)
        await self.bus.publish(JobCancelRequested(**self._requested(job_id), reason=reason))

    async def retry(
        self, job_id: str, *, force: bool = False, policy: RecoveryPolicy | None = None
    ) -> None:
        """Ask for an aborted job to run again (``force`` also cancelled and completed ones).

        Raises:
            JobNotFoundError: no such job.
            JobNotEligibleError: its status does not allow it (nothing published); see
                `contracts.eligibility`.
        """
        await self._eligible(job_id, lambda status: retry_refusal(status, force))
        request = JobRetryRequested(**self._requested(job_id), force=force, policy=policy)
        await self.bus.publish(request)

    async def emergency_stop(self, reason: str = "") -> None:
        """Interrupt every prompt of ours on every backend and pause dispatch."""
        stop = EmergencyStopRequested(**self._requested(CONTROL_JOB_ID), reason=reason)
        await self.bus.publish(stop)

    async def resume(self) -> None:
        """Let dispatch go on after an emergency stop."""
        await self.bus.publish(DispatchResumed(**self._requested(CONTROL_JOB_ID)))

    async def _eligible(self, job_id: str, refuse: Callable[[JobStatus], str | None]) -> None:
        """Raise `JobNotEligibleError` when `refuse` has a reason against the job's status."""
        status = await self._standing(job_id)
        refusal = refuse(status)
        if refusal is not None:
            raise JobNotEligibleError(job_id, status.value, refusal)

    def _requested(self, job_id: str) -> dict[str, Any]:
        """An operator request's envelope: a new id, now, this client as source and requester."""
        return {
            "event_id": new_event_id(),
            "job_id": job_id,
            "occurred_at": utcnow(),
            "source": self.source,
            "requested_by": self.source,
        }


def _same_request(stored: JobSubmitted, event: JobSubmitted) -> bool:
    """Whether two submissions ask for the same thing (time and source aside)."""
    return msgspec.structs.replace(stored, occurred_at=event.occurred_at, source=event.source) == (
        event
    )

"""Which recovery policy applies to a job, and the limits it implies (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final

import msgspec

from contracts.policy import RecoveryPolicy
from contracts.taxonomy import FailureClass

_C = FailureClass
DEFAULT_CLASS_LIMITS: Final[Mapping[FailureClass, int]] = {
    _C.GPU_OOM: 4,
    _C.HOST_OOM: 3,
    _C.DISK_FULL: 2,
    _C.GPU_FAULT: 2,
    _C.BACKEND_UNSUPPORTED: 2,
    _C.BACKEND_WEDGED: 2,
    _C.BACKEND_UNREACHABLE: 4,
    _C.BACKEND_ERROR: 3,
    _C.EXTERNAL_SERVICE_ERROR: 3,
    _C.TIMEOUT: 3,
    _C.STALLED: 2,
    _C.INTERRUPTED: 2,
    _C.MODEL_MISSING: 3,
    _C.MODEL_CORRUPT: 2,
    _C.MODEL_INCOMPATIBLE: 2,
    _C.NODE_MISSING: 2,
    _C.DEPENDENCY_MISSING: 2,
    _C.INPUT_MISSING: 1,
    _C.INVALID_PARAMETERS: 1,
    _C.OUTPUT_MISSING: 1,
    _C.UNKNOWN: 1,
}
"""How many times a class may be recovered in one job unless the policy says otherwise.
Classes absent here (INVALID_WORKFLOW, NODE_EXECUTION_ERROR, PERMISSION_DENIED,
CANCELLED) are never recovered."""


def effective(default: RecoveryPolicy, job: RecoveryPolicy | None) -> RecoveryPolicy:
    """The job's own policy over the live default; their per-class limits and fallback
    lists are merged, the job's entries winning."""
    if job is None:
        return default
    return msgspec.structs.replace(
        job,
        per_class_limits={**default.per_class_limits, **job.per_class_limits},
        fallback_models={**default.fallback_models, **job.fallback_models},
    )


def class_limit(policy: RecoveryPolicy, failure_class: FailureClass) -> int:
    """How many recoveries of `failure_class` the policy allows in one job."""
    limit = policy.per_class_limits.get(failure_class.value)
    return DEFAULT_CLASS_LIMITS.get(failure_class, 0) if limit is None else limit


def deadline(policy: RecoveryPolicy, submitted_at: datetime | None) -> datetime | None:
    """When the job must be finished by (None: no deadline)."""
    if policy.deadline_s is None or submitted_at is None:
        return None
    return submitted_at + timedelta(seconds=policy.deadline_s)


def round_up(value: int, grid: int) -> int:
    """The smallest multiple of `grid` not below `value`."""
    return -(-value // grid) * grid


def round_down(value: int, grid: int) -> int:
    """The largest multiple of `grid` not above `value`."""
    return value // grid * grid


def size_floors(policy: RecoveryPolicy, grid: int) -> tuple[int, int]:
    """The policy's minimum width and height, on the latent's size grid."""
    return round_up(max(policy.min_width, grid), grid), round_up(max(policy.min_height, grid), grid)

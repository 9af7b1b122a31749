"""Failure class → strategy chain (TAXONOMY.md's last column), as data.

Each step names its primary strategy (the decision's ``strategy``, which also counts its
uses), the planner that builds it, and how often it may run for one job; steps with the
same strategy in one chain share their count (``uses`` is the total). The chain is
walked from the top on every failure: a step is skipped once used up or when its planner
finds it does not apply; when none is left the job is aborted (the implicit last step).
The class limits of the policy and ``max_attempts`` bound every chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from contracts.taxonomy import FailureClass, Strategy
from recovery.strategies import (
    backend,
    clamp,
    inputs,
    models,
    reduce_params,
    reroute,
    resume,
    retry,
)
from recovery.strategies.context import Planner


@dataclass(frozen=True, slots=True)
class Step:
    """One link of a chain."""

    strategy: Strategy
    planner: Planner
    uses: int = 1


_C = FailureClass
_S = Strategy
CHAINS: Final[Mapping[FailureClass, tuple[Step, ...]]] = {
    _C.GPU_OOM: (
        Step(_S.FREE_VRAM, reduce_params.free_vram),
        Step(_S.REDUCE_PARAMS, reduce_params.reduce_gpu, uses=3),
        Step(_S.REROUTE, reduce_params.reroute_gpu, uses=2),
    ),
    _C.HOST_OOM: (
        Step(_S.FREE_VRAM, reduce_params.free_host),
        Step(_S.REDUCE_PARAMS, reduce_params.reduce_host, uses=2),
        Step(_S.REROUTE, reduce_params.reroute_host),
    ),
    _C.DISK_FULL: (Step(_S.REROUTE, reroute.elsewhere, uses=2),),
    # one job's GPU fault counts against the GPU's breaker (its failure rate), it does not
    # quarantine it: a GPU that is really gone fails every job and the rate opens it
    _C.GPU_FAULT: (Step(_S.REROUTE, reroute.elsewhere, uses=2),),
    _C.BACKEND_UNSUPPORTED: (Step(_S.REROUTE, reroute.other_device, uses=2),),
    _C.BACKEND_WEDGED: (Step(_S.QUARANTINE_BACKEND, backend.quarantine_reroute_resume, uses=2),),
    _C.BACKEND_UNREACHABLE: (
        Step(_S.RETRY, retry.same_backend, uses=2),
        Step(_S.REROUTE, reroute.elsewhere, uses=2),
        Step(_S.RETRY, retry.after_outage, uses=4),
    ),
    _C.BACKEND_ERROR: (
        Step(_S.RETRY, retry.same_backend),
        Step(_S.REROUTE, reroute.elsewhere, uses=2),
        Step(_S.RETRY, retry.after_outage, uses=3),
    ),
    _C.EXTERNAL_SERVICE_ERROR: (Step(_S.RETRY, retry.anywhere, uses=3),),
    _C.TIMEOUT: (
        Step(_S.RESUME, resume.interrupt_and_resume),
        Step(_S.REROUTE, reroute.elsewhere),
    ),
    _C.STALLED: (
        Step(_S.INTERRUPT, resume.interrupt_and_resume),
        Step(_S.REROUTE, backend.interrupt_and_reroute),
    ),
    _C.INTERRUPTED: (Step(_S.RESUME, resume.resume, uses=2),),
    _C.MODEL_MISSING: (
        Step(_S.REPAIR_MODEL_NAME, models.repair),
        Step(_S.REROUTE, models.reroute_to_holder),
        Step(_S.SWITCH_MODEL, models.switch, uses=2),
    ),
    _C.MODEL_CORRUPT: (
        Step(_S.REROUTE, models.reroute_away),
        Step(_S.SWITCH_MODEL, models.switch),
    ),
    _C.MODEL_INCOMPATIBLE: (Step(_S.REROUTE, reroute.other_version, uses=2),),
    _C.NODE_MISSING: (Step(_S.REROUTE, reroute.elsewhere, uses=2),),
    _C.DEPENDENCY_MISSING: (Step(_S.REROUTE, reroute.other_version, uses=2),),
    _C.INPUT_MISSING: (Step(_S.RE_UPLOAD_INPUT, inputs.reupload),),
    _C.INVALID_WORKFLOW: (),
    _C.INVALID_PARAMETERS: (Step(_S.CLAMP_PARAMS, clamp.clamp),),
    _C.NODE_EXECUTION_ERROR: (),
    _C.PERMISSION_DENIED: (),
    _C.OUTPUT_MISSING: (Step(_S.RESUME, resume.rerun_outputs),),
    _C.CANCELLED: (),
    _C.UNKNOWN: (Step(_S.RETRY, retry.same_backend),),
}
"""Every class has a chain (an empty one aborts at once)."""

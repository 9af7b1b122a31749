"""ABORT: stop the job with a reason, a user message and the steps that would fix it.

The classifier's message and steps are used when it gave them; these are the fallbacks.
No text here carries a traceback, a host name or a backend file path (TAXONOMY.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from contracts.recovery import Abort, Action
from contracts.taxonomy import FailureClass, Strategy
from recovery.decision import Decision
from recovery.strategies import explain, models
from recovery.strategies.context import Context
from recovery.strategies.resume import interrupts

_C = FailureClass
MESSAGES: Final[Mapping[FailureClass, tuple[str, tuple[str, ...]]]] = {
    _C.GPU_OOM: (
        "The job needs more GPU memory than any available backend can give it.",
        (
            "Lower the resolution or the batch size",
            "Allow degradation in the job's policy",
            "Add a GPU with more VRAM",
        ),
    ),
    _C.HOST_OOM: (
        "The backend ran out of system memory.",
        ("Lower the resolution or the batch size", "Add RAM or swap to the backend"),
    ),
    _C.DISK_FULL: (
        "No backend with free disk space could take the job.",
        ("Free disk space on the backends",),
    ),
    _C.GPU_FAULT: (
        "The GPU reported a hardware fault and no other backend could take the job.",
        ("Check the GPU (ECC/Xid errors) and restart the backend",),
    ),
    _C.BACKEND_UNSUPPORTED: (
        "This backend type cannot run the workflow and no other type is available.",
        ("Add a backend with another GPU, driver or platform",),
    ),
    _C.BACKEND_WEDGED: (
        "The backend stopped executing prompts and no other backend could take the job.",
        ("Restart the backend",),
    ),
    _C.BACKEND_UNREACHABLE: (
        "No backend could be reached.",
        ("Check that the ComfyUI servers are running and reachable",),
    ),
    _C.BACKEND_ERROR: (
        "The backend kept answering with server errors.",
        ("Check the ComfyUI server logs",),
    ),
    _C.EXTERNAL_SERVICE_ERROR: (
        "A service that a node calls kept failing.",
        ("Check the external service the node uses, then retry",),
    ),
    _C.TIMEOUT: (
        "The job kept running past its time limit.",
        ("Raise the deadline", "Lower the steps or resolution"),
    ),
    _C.STALLED: ("The job stopped making progress.", ("Restart the backend", "Retry the job")),
    _C.INTERRUPTED: ("The job was interrupted and could not be resumed.", ("Retry the job",)),
    _C.MODEL_MISSING: (
        "A model the workflow needs is on no available backend.",
        ("Install the model on a backend", "Add a fallback model to the job's policy"),
    ),
    _C.MODEL_CORRUPT: (
        "A model file is corrupt and no intact copy or fallback is available.",
        ("Download the model file again on the backend that reported it",),
    ),
    _C.MODEL_INCOMPATIBLE: (
        "A model does not fit the workflow (e.g. a LoRA for another base model).",
        ("Use a model made for this base model",),
    ),
    _C.NODE_MISSING: (
        "A node the workflow uses is installed on no available backend.",
        ("Install the custom node on a backend",),
    ),
    _C.DEPENDENCY_MISSING: (
        "A node's Python dependency is missing on every suitable backend.",
        ("Install the node's requirements on the backend",),
    ),
    _C.INPUT_MISSING: (
        "An input file of the job is missing on the backend.",
        ("Submit the job with its input files",),
    ),
    _C.INVALID_WORKFLOW: (
        "The workflow is not a valid ComfyUI API-format graph.",
        ("Export the workflow with 'Save (API Format)'",),
    ),
    _C.INVALID_PARAMETERS: (
        "A parameter of the workflow is invalid.",
        ("Fix the parameter named in the error",),
    ),
    _C.NODE_EXECUTION_ERROR: ("A node failed while running.", ("Check the node's inputs",)),
    _C.PERMISSION_DENIED: (
        "Access was denied (a file, a gated model or an API key).",
        ("Check the credentials or file permissions",),
    ),
    _C.OUTPUT_MISSING: (
        "The job finished but produced no output.",
        ("Check the output nodes of the workflow",),
    ),
    _C.CANCELLED: ("The job was cancelled.", ()),
    _C.UNKNOWN: ("The job failed for an unknown reason.", ("Retry the job", "Report the error")),
}


AUTOMATIC: Final = re.compile(
    r"\b(?:is|are) (?:retried|resumed|uploaded again|interrupted)\b|\bautomatically\b"
    r"|\bout of rotation\b|\bjob (?:moves|moved)\b|\bmay run on another backend\b",
    re.IGNORECASE,
)
"""Steps that narrate what recovery does next (the classifier writes them for a job that
goes on): an ended job promises nothing, so an abort keeps only the steps a person takes."""

STILL_RUNNING = frozenset({_C.TIMEOUT, _C.STALLED, _C.BACKEND_WEDGED})
"""Classes whose prompt may still be queued or running on the backend when we give up."""


def abort(ctx: Context, reason: str, steps: tuple[str, ...] = ()) -> Decision:
    """A terminal decision for `ctx`'s failure. It never quarantines: an ended job says
    nothing more about a backend than its failure already told the breaker."""
    cls = ctx.failure.failure_class
    message, default_steps = MESSAGES.get(cls, MESSAGES[_C.UNKNOWN])
    about = "; ".join(part for part in (explain.subject(ctx), explain.memory_gap(ctx)) if part)
    if about:
        message, reason = f"{message} ({about})", f"{reason} ({about})"
    human = tuple(step for step in ctx.failure.actionable_steps if not AUTOMATIC.search(step))
    own_steps = human or default_steps
    if cls is _C.MODEL_MISSING and (which := models.ambiguous(ctx)):
        own_steps, reason = (*which, *own_steps), f"{reason}; {' '.join(which)}"
    if cls is _C.GPU_OOM and ctx.policy.allow_degradation:
        own_steps = tuple(s for s in own_steps if "degradation" not in s)
    # a prompt that may still be queued or running must not go on burning GPU time
    still_there = interrupts(ctx, f"aborted: {cls}") if cls in STILL_RUNNING else ()
    actions: tuple[Action, ...] = (
        *still_there,
        Abort(
            reason=reason,
            user_message=ctx.failure.user_message or message,
            actionable_steps=list(dict.fromkeys((*own_steps, *steps))),
            cancelled=cls is _C.CANCELLED,
        ),
    )
    strategy = Strategy.CANCEL if cls is _C.CANCELLED else Strategy.ABORT
    return Decision(
        job_id=ctx.state.job_id,
        answers=ctx.failure.event_id,
        attempt=ctx.failure.attempt,
        at=ctx.now,
        strategy=strategy,
        strategies=(
            *((Strategy.INTERRUPT,) if still_there else ()),
            strategy,
        ),
        actions=actions,
        failure_class=cls,
        reason=reason,
        terminal=True,
    )

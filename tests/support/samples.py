"""One realistic instance of every event type (fixed values, so golden files are stable)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts import (
    Abort,
    BackendHealth,
    BackendInventory,
    Binding,
    BreakerChanged,
    BreakerState,
    Dispatch,
    DispatchedPrompt,
    DispatchResumed,
    EmergencyStopRequested,
    FailureClass,
    FailureClassified,
    FailureEvidence,
    FreeVram,
    GpuSampled,
    InterruptSent,
    JobCancelRequested,
    JobCompleted,
    JobDispatched,
    JobFailed,
    JobProgressed,
    JobRetryRequested,
    JobSubmitted,
    NodeError,
    OutputFile,
    ParamChange,
    RecoveryDecided,
    RecoveryPolicy,
    Retryability,
    Severity,
    Strategy,
)
from contracts.codec import AnyEvent

AT = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
WORKFLOW = {
    "5": {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": 1024, "height": 1024, "batch_size": 4},
    },
    "3": {"class_type": "KSampler", "inputs": {"steps": 20, "latent_image": ["5", 0]}},
}


def env(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"evt-{kind}",
        "job_id": "job-1",
        "attempt": 1,
        "occurred_at": AT,
        "source": "test/1",
        "causation_id": None,
        **extra,
    }


OOM = FailureEvidence(
    surface="execution_error",
    message="CUDA out of memory. Tried to allocate 2.00 GiB",
    exception_type="torch.OutOfMemoryError",
    node_id="3",
    node_type="KSampler",
    traceback=['  File "execution.py", line 1, in f\n'],
    node_errors=[
        NodeError(node_id="4", class_type="CheckpointLoaderSimple", type="value_not_in_list")
    ],
)

SAMPLES: list[AnyEvent] = [
    JobSubmitted(
        **env("submitted"),
        workflow=WORKFLOW,
        params={"width": 1024},
        bindings={"width": Binding("5", "width")},
        policy=RecoveryPolicy(max_attempts=3, fallback_models={"a.safetensors": ["b.safetensors"]}),
    ),
    JobDispatched(
        **env("dispatched"),
        backend_id="b0",
        client_id="c",
        prompts=[DispatchedPrompt(prompt_id="p-1", part=0, number=3.0)],
    ),
    JobProgressed(
        **env("progress"), backend_id="b0", prompt_id="p-1", node="3", value=5, max=20, percent=25.0
    ),
    JobCompleted(
        **env("completed"),
        backend_id="b0",
        prompt_ids=["p-1"],
        outputs={"9": [OutputFile(filename="x_00001_.png", subfolder="", type="output")]},
    ),
    JobFailed(**env("failed"), backend_id="b0", prompt_id="p-1", evidence=OOM),
    JobCancelRequested(**env("cancel"), reason="owner"),
    JobRetryRequested(**env("retry"), force=True),
    InterruptSent(**env("interrupt"), backend_id="b0", prompt_id="p-1", reason="stalled"),
    FailureClassified(
        **env("classified"),
        failed_event_id="evt-failed",
        failure_class=FailureClass.GPU_OOM,
        error_code="GPU_OUT_OF_MEMORY",
        retryable=True,
        retryability=Retryability.YES,
        severity=Severity.MEDIUM,
        rule="gpu-oom",
        features={"requested_bytes": 2147483648},
        evidence=OOM,
    ),
    RecoveryDecided(
        **env("decided"),
        answers_event_id="evt-classified",
        strategy=Strategy.REDUCE_PARAMS,
        strategies=[Strategy.FREE_VRAM, Strategy.REDUCE_PARAMS],
        failure_class=FailureClass.GPU_OOM,
        actions=[
            FreeVram(backend_id="b0"),
            Dispatch(attempt=2, workflows=[WORKFLOW], not_before=AT),
        ],
        changes=[ParamChange(node="5", input="batch_size", before=4, after=2)],
    ),
    RecoveryDecided(
        **env("aborted"),
        answers_event_id="evt-x",
        strategy=Strategy.ABORT,
        terminal=True,
        actions=[Abort(reason="r", user_message="m")],
    ),
    EmergencyStopRequested(**env("estop"), reason="maintenance"),
    DispatchResumed(**env("resumed")),
    BackendHealth(**env("health"), backend_id="b0", reachable=True, latency_ms=3.5),
    BackendInventory(
        **env("inventory"),
        backend_id="b0",
        node_classes=["KSampler"],
        models={"checkpoints": ["a.safetensors"]},
    ),
    BreakerChanged(
        **env("breaker"), backend_id="b0", state=BreakerState.OPEN, previous=BreakerState.CLOSED
    ),
    GpuSampled(**env("gpu"), backend_id="b0", memory_total=24, memory_free=2, xid_events=[79]),
]

"""Contracts of comfy-recovery: events, subjects, streams, taxonomy, codec, errors, policy.

Wire types only: importing this package connects nothing and registers nothing (the bus
and job client are in `cr_client`, the service runtime in `cr_runtime`).
"""

from contracts.backend import (
    BackendHealth,
    BackendInventory,
    BreakerChanged,
    BreakerState,
)
from contracts.codec import AnyEvent, decode, encode, subject_for
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.envelope import (
    CONTROL_JOB_ID,
    Event,
    derive_event_id,
    new_event_id,
    prompt_id_for,
    utcnow,
)
from contracts.errors import (
    BusUnavailableError,
    ContractsError,
    JobNotEligibleError,
    JobNotFoundError,
    PermanentError,
    SubmitRefusedError,
    TransientError,
    UndecodableEventError,
)
from contracts.failure import FailureClassified
from contracts.gpu import GpuSampled
from contracts.job import (
    Binding,
    DispatchedPrompt,
    FailureEvidence,
    InputAsset,
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
)
from contracts.policy import RecoveryPolicy
from contracts.readmodel import JobStatus, JobView, RecoveryStep
from contracts.recovery import (
    Abort,
    Action,
    Dispatch,
    FreeVram,
    Interrupt,
    ParamChange,
    QuarantineBackend,
    RecoveryDecided,
    UploadInput,
)
from contracts.settings import BusSettings
from contracts.taxonomy import CLASS_INFO, FailureClass, Retryability, Severity, Strategy
from contracts.workflow import InvalidWorkflowError, WorkflowTooLargeError, validate_workflow

__all__ = [
    "CLASS_INFO",
    "CONTROL_JOB_ID",
    "Abort",
    "Action",
    "AnyEvent",
    "BackendHealth",
    "BackendInventory",
    "Binding",
    "BreakerChanged",
    "BreakerState",
    "BusSettings",
    "BusUnavailableError",
    "ContractsError",
    "Dispatch",
    "DispatchResumed",
    "DispatchedPrompt",
    "EmergencyStopRequested",
    "Event",
    "FailureClass",
    "FailureClassified",
    "FailureEvidence",
    "FreeVram",
    "GpuSampled",
    "InputAsset",
    "Interrupt",
    "InterruptSent",
    "InvalidWorkflowError",
    "JobCancelRequested",
    "JobCompleted",
    "JobDispatched",
    "JobFailed",
    "JobNotEligibleError",
    "JobNotFoundError",
    "JobProgressed",
    "JobRetryRequested",
    "JobStatus",
    "JobSubmitted",
    "JobView",
    "NodeError",
    "OutputFile",
    "ParamChange",
    "PermanentError",
    "QuarantineBackend",
    "RecoveryDecided",
    "RecoveryPolicy",
    "RecoveryStep",
    "Retryability",
    "Severity",
    "Strategy",
    "TransientError",
    "UndecodableEventError",
    "UploadInput",
    "decode",
    "derive_event_id",
    "encode",
    "new_event_id",
    "prompt_id_for",
    "subject_for",
    "utcnow",
    "SubmitRefusedError",
    "WorkflowTooLargeError",
    "validate_workflow",
]

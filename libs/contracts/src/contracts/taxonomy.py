"""The failure taxonomy's vocabulary (TAXONOMY.md): classes, codes, severities, strategies."""

from __future__ import annotations

import enum
from typing import Final


class FailureClass(enum.StrEnum):
    """Every failure is exactly one of these (TAXONOMY.md table, in order)."""

    GPU_OOM = "GPU_OOM"
    HOST_OOM = "HOST_OOM"
    DISK_FULL = "DISK_FULL"
    GPU_FAULT = "GPU_FAULT"
    BACKEND_UNSUPPORTED = "BACKEND_UNSUPPORTED"
    BACKEND_WEDGED = "BACKEND_WEDGED"
    BACKEND_UNREACHABLE = "BACKEND_UNREACHABLE"
    BACKEND_ERROR = "BACKEND_ERROR"
    EXTERNAL_SERVICE_ERROR = "EXTERNAL_SERVICE_ERROR"
    TIMEOUT = "TIMEOUT"
    STALLED = "STALLED"
    INTERRUPTED = "INTERRUPTED"
    MODEL_MISSING = "MODEL_MISSING"
    MODEL_CORRUPT = "MODEL_CORRUPT"
    MODEL_INCOMPATIBLE = "MODEL_INCOMPATIBLE"
    NODE_MISSING = "NODE_MISSING"
    DEPENDENCY_MISSING = "DEPENDENCY_MISSING"
    INPUT_MISSING = "INPUT_MISSING"
    INVALID_WORKFLOW = "INVALID_WORKFLOW"
    INVALID_PARAMETERS = "INVALID_PARAMETERS"
    NODE_EXECUTION_ERROR = "NODE_EXECUTION_ERROR"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    OUTPUT_MISSING = "OUTPUT_MISSING"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"


class Severity(enum.StrEnum):
    """How bad a failure is for the operator."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Retryability(enum.StrEnum):
    """TAXONOMY's `retryable` column, kept precise (a bool loses "elsewhere")."""

    YES = "yes"
    ELSEWHERE = "elsewhere"
    OTHER_BACKEND_TYPE = "other_backend_type"
    WITH_REPAIR = "with_repair"
    ONCE = "once"
    IF_CLAMPABLE = "if_clampable"
    PER_VERSION = "per_version"
    NO = "no"


class Strategy(enum.StrEnum):
    """Recovery strategies (DESIGN.md § strategies)."""

    RETRY = "RETRY"
    FREE_VRAM = "FREE_VRAM"
    REDUCE_PARAMS = "REDUCE_PARAMS"
    REPAIR_MODEL_NAME = "REPAIR_MODEL_NAME"
    SWITCH_MODEL = "SWITCH_MODEL"
    RESUME = "RESUME"
    REROUTE = "REROUTE"
    QUARANTINE_BACKEND = "QUARANTINE_BACKEND"
    CLAMP_PARAMS = "CLAMP_PARAMS"
    RE_UPLOAD_INPUT = "RE_UPLOAD_INPUT"
    INTERRUPT = "INTERRUPT"
    ABORT = "ABORT"
    CANCEL = "CANCEL"


class ClassInfo:
    """Static facts of one failure class: code, retryability, severity."""

    __slots__ = ("error_code", "retryability", "severity")

    def __init__(self, error_code: str, retryability: Retryability, severity: Severity) -> None:
        self.error_code = error_code
        self.retryability = retryability
        self.severity = severity

    @property
    def retryable(self) -> bool:
        """Whether the job can succeed later without a human (TAXONOMY's meaning)."""
        return self.retryability not in (Retryability.NO, Retryability.PER_VERSION)


_R = Retryability
_S = Severity
CLASS_INFO: Final[dict[FailureClass, ClassInfo]] = {
    FailureClass.GPU_OOM: ClassInfo("GPU_OUT_OF_MEMORY", _R.YES, _S.MEDIUM),
    FailureClass.HOST_OOM: ClassInfo("HOST_OUT_OF_MEMORY", _R.YES, _S.HIGH),
    FailureClass.DISK_FULL: ClassInfo("DISK_FULL", _R.ELSEWHERE, _S.HIGH),
    FailureClass.GPU_FAULT: ClassInfo("GPU_FAULT", _R.ELSEWHERE, _S.CRITICAL),
    FailureClass.BACKEND_UNSUPPORTED: ClassInfo(
        "BACKEND_UNSUPPORTED", _R.OTHER_BACKEND_TYPE, _S.HIGH
    ),
    FailureClass.BACKEND_WEDGED: ClassInfo("BACKEND_WEDGED", _R.ELSEWHERE, _S.CRITICAL),
    FailureClass.BACKEND_UNREACHABLE: ClassInfo("BACKEND_UNREACHABLE", _R.YES, _S.MEDIUM),
    FailureClass.BACKEND_ERROR: ClassInfo("BACKEND_ERROR", _R.YES, _S.MEDIUM),
    FailureClass.EXTERNAL_SERVICE_ERROR: ClassInfo("EXTERNAL_SERVICE_ERROR", _R.YES, _S.MEDIUM),
    FailureClass.TIMEOUT: ClassInfo("TIMEOUT", _R.YES, _S.MEDIUM),
    FailureClass.STALLED: ClassInfo("STALLED", _R.YES, _S.MEDIUM),
    FailureClass.INTERRUPTED: ClassInfo("INTERRUPTED", _R.YES, _S.LOW),
    FailureClass.MODEL_MISSING: ClassInfo("MODEL_MISSING", _R.WITH_REPAIR, _S.MEDIUM),
    FailureClass.MODEL_CORRUPT: ClassInfo("MODEL_CORRUPT", _R.WITH_REPAIR, _S.HIGH),
    FailureClass.MODEL_INCOMPATIBLE: ClassInfo("MODEL_INCOMPATIBLE", _R.PER_VERSION, _S.MEDIUM),
    FailureClass.NODE_MISSING: ClassInfo("NODE_MISSING", _R.ELSEWHERE, _S.MEDIUM),
    FailureClass.DEPENDENCY_MISSING: ClassInfo("DEPENDENCY_MISSING", _R.PER_VERSION, _S.HIGH),
    FailureClass.INPUT_MISSING: ClassInfo("INPUT_MISSING", _R.ONCE, _S.MEDIUM),
    FailureClass.INVALID_WORKFLOW: ClassInfo("INVALID_WORKFLOW", _R.NO, _S.MEDIUM),
    FailureClass.INVALID_PARAMETERS: ClassInfo("INVALID_PARAMETERS", _R.IF_CLAMPABLE, _S.LOW),
    FailureClass.NODE_EXECUTION_ERROR: ClassInfo("NODE_EXECUTION_ERROR", _R.NO, _S.MEDIUM),
    FailureClass.PERMISSION_DENIED: ClassInfo("PERMISSION_DENIED", _R.NO, _S.HIGH),
    FailureClass.OUTPUT_MISSING: ClassInfo("OUTPUT_MISSING", _R.ONCE, _S.MEDIUM),
    FailureClass.CANCELLED: ClassInfo("CANCELLED", _R.NO, _S.LOW),
    FailureClass.UNKNOWN: ClassInfo("UNKNOWN", _R.ONCE, _S.MEDIUM),
}

"""The per-job recovery policy, shared by clients, the submitter and recovery."""

from __future__ import annotations

import msgspec


class RecoveryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """What recovery may do for one job.

    Attributes:
        max_attempts: total dispatches allowed, the first one included.
        per_class_limits: failure class → how many times that class may be recovered.
        deadline_s: seconds from submission after which the job is aborted (None: none).
        allow_degradation: whether resolution or steps may be lowered.
        min_width / min_height / min_steps: floors when degrading.
        fallback_models: model name → ordered replacements an operator allows.
        stall_window_s: seconds without progress before a running prompt is STALLED.
        max_wait_s: longest wait for a usable backend when none can take the job now (all
            down, open or quarantined); waiting uses no attempt, the deadline still holds.
    """

    max_attempts: int = 5
    per_class_limits: dict[str, int] = msgspec.field(default_factory=dict)
    deadline_s: float | None = None
    allow_degradation: bool = False
    min_width: int = 256
    min_height: int = 256
    min_steps: int = 8
    fallback_models: dict[str, list[str]] = msgspec.field(default_factory=dict)
    stall_window_s: float = 120.0
    max_wait_s: float = 600.0

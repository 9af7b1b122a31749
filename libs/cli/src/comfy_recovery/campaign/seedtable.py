"""The seed system's recovery table, as a pure function (the `seed` policy of a campaign).

REDUCE_PARAMS (batch/2, width and height −20 % with a floor of 512, steps −20 % with a floor
of 20) for out-of-memory errors; RESUME_CHECKPOINT (submit the same prompt again) for
interrupted, lost or timed-out prompts; SWITCH_MODEL (the next model of a fixed fallback list)
for a missing or unreadable checkpoint; RETRY after 2/4/8 s (at most 30 s) for server and
connection errors and device faults; ABORT otherwise, or after 3 recoveries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

MAX_RECOVERIES: Final = 3
RETRY_BASE_S: Final = 2.0
RETRY_CAP_S: Final = 30.0
FALLBACK_MODELS: Final = ("sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors")
MIN_SIDE: Final = 512
MIN_STEPS: Final = 20

OOM_WORDS: Final = ("out of memory", "outofmemoryerror", "defaultcpuallocator")
MODEL_WORDS: Final = ("headertoolarge", "safetensorerror", "ckpt_name")
TRANSIENT_WORDS: Final = ("illegal memory access", "no space left")
RESUMABLE: Final = frozenset({"interrupted", "lost", "timeout"})
RETRYABLE: Final = frozenset({"http", "unreachable"})


@dataclass(frozen=True)
class Params:
    """The job parameters the seed table may change."""

    width: int
    height: int
    batch: int
    steps: int
    ckpt: str


@dataclass(frozen=True)
class Failure:
    """What a client saw: where (`http`, `unreachable`, `validation`, `execution`,
    `interrupted`, `lost`, `timeout`) and the error text."""

    surface: str
    text: str = ""


@dataclass(frozen=True)
class Decision:
    """RETRY / REDUCE_PARAMS / RESUME_CHECKPOINT / SWITCH_MODEL / ABORT, delay, new params."""

    action: str
    params: Params
    delay_s: float = 0.0
    reason: str = ""


def reduce_params(params: Params) -> Params | None:
    """batch/2, sides −20 % (floor 512, multiples of 8), steps −20 % (floor 20).

    None when nothing can move any more.
    """

    def side(value: int) -> int:
        return max(MIN_SIDE, int(value * 0.8) // 8 * 8) if value > MIN_SIDE else value

    smaller = replace(
        params,
        batch=max(1, params.batch // 2),
        width=side(params.width),
        height=side(params.height),
        steps=max(MIN_STEPS, int(params.steps * 0.8)) if params.steps > MIN_STEPS else params.steps,
    )
    return None if smaller == params else smaller


def next_model(current: str) -> str | None:
    """The first fallback that is not the current model."""
    return next((m for m in FALLBACK_MODELS if m != current), None)


def decide(failure: Failure, params: Params, recoveries: int) -> Decision:
    """The seed table's answer to a failure, after `recoveries` earlier recoveries."""
    if recoveries >= MAX_RECOVERIES:
        return Decision("ABORT", params, reason=f"{MAX_RECOVERIES} recoveries used")
    text = failure.text.lower()
    if any(word in text for word in OOM_WORDS):
        smaller = reduce_params(params)
        if smaller is None:
            return Decision("ABORT", params, reason="out of memory at the smallest parameters")
        return Decision("REDUCE_PARAMS", smaller, reason="out of memory")
    if failure.surface in RESUMABLE:
        return Decision("RESUME_CHECKPOINT", params, reason=failure.surface)
    if any(word in text for word in MODEL_WORDS):
        model = next_model(params.ckpt)
        if model is None:
            return Decision("ABORT", params, reason="no fallback model left")
        return Decision("SWITCH_MODEL", replace(params, ckpt=model), reason="model error")
    if failure.surface in RETRYABLE or any(word in text for word in TRANSIENT_WORDS):
        delay = min(RETRY_CAP_S, RETRY_BASE_S * 2**recoveries)
        return Decision("RETRY", params, delay_s=delay, reason=failure.surface)
    return Decision("ABORT", params, reason=f"not recoverable: {failure.text[:120]}")

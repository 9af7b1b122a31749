"""Recovery decisions (subject ``recovery.decided.<job_id>``) and their actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from contracts import subjects
from contracts.envelope import Event
from contracts.taxonomy import FailureClass, Strategy


class ParamChange(msgspec.Struct, frozen=True, kw_only=True):
    """One change to the job's graph: where, from what, to what, and why."""

    node: str
    input: str
    before: Any = None
    after: Any = None
    param: str | None = None
    note: str = ""


class FreeVram(msgspec.Struct, frozen=True, kw_only=True, tag="free_vram"):
    """POST /free on a backend (unload models, drop the node cache) before going on."""

    backend_id: str
    unload_models: bool = True
    free_memory: bool = True


class Interrupt(msgspec.Struct, frozen=True, kw_only=True, tag="interrupt"):
    """Interrupt (or delete, if still queued) one of our prompts, by prompt id."""

    backend_id: str
    prompt_id: str
    reason: str = ""


class QuarantineBackend(msgspec.Struct, frozen=True, kw_only=True, tag="quarantine"):
    """Stop sending work to a backend (its breaker is opened)."""

    backend_id: str
    reason: str = ""
    restart_requested: bool = False


class UploadInput(msgspec.Struct, frozen=True, kw_only=True, tag="upload_input"):
    """Put one of the job's input assets back on the backend before dispatch."""

    name: str


class Dispatch(msgspec.Struct, frozen=True, kw_only=True, tag="dispatch"):
    """Run the job again: the graph(s) to post, where, and not before when.

    ``workflows`` holds one graph, or several when a batch is split; together their
    outputs equal what was asked. ``wait_until`` set: no backend can take it now; the
    submitter holds it (no attempt used) until one can, and reports ``no_backend`` once
    that time has passed.
    """

    attempt: int
    workflows: list[dict[str, Any]]
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    backend_hint: str | None = None
    exclude_backends: list[str] = msgspec.field(default_factory=list)
    require_version_other_than: str | None = None
    require_device_other_than: str | None = None
    not_before: datetime | None = None
    resume: bool = False
    wait_until: datetime | None = None


class Abort(msgspec.Struct, frozen=True, kw_only=True, tag="abort"):
    """Stop the job for good, saying why and what to fix."""

    reason: str
    user_message: str = ""
    actionable_steps: list[str] = msgspec.field(default_factory=list)
    cancelled: bool = False


Action = FreeVram | Interrupt | QuarantineBackend | UploadInput | Dispatch | Abort


class RecoveryDecided(Event, frozen=True, kw_only=True, tag=subjects.RECOVERY_DECIDED):
    """What recovery decided for one failure (or operator request).

    Its id is derived from the event it answers (``answers_event_id``), so a redelivery
    or a restart never yields two decisions for one failure.
    """

    answers_event_id: str
    strategy: Strategy
    strategies: list[Strategy] = msgspec.field(default_factory=list)
    failure_class: FailureClass | None = None
    actions: list[Action] = msgspec.field(default_factory=list)
    changes: list[ParamChange] = msgspec.field(default_factory=list)
    delay_s: float = 0.0
    reason: str = ""
    terminal: bool = False

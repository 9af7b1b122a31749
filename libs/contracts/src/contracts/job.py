"""Job lifecycle events (subjects ``job.*.<job_id>``)."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import subjects
from contracts.envelope import Event
from contracts.policy import RecoveryPolicy


class Binding(msgspec.Struct, frozen=True):
    """Where a named parameter lives in the graph: node id and input name."""

    node: str
    input: str


class InputAsset(msgspec.Struct, frozen=True, kw_only=True):
    """An input file the system holds and can (re-)upload to a backend."""

    name: str
    data_b64: str
    subfolder: str = ""


class JobSubmitted(Event, frozen=True, kw_only=True, tag=subjects.JOB_SUBMITTED):
    """A client asked for a ComfyUI workflow (API format) to be run."""

    workflow: dict[str, Any]
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    bindings: dict[str, Binding] = msgspec.field(default_factory=dict)
    policy: RecoveryPolicy | None = None
    expected_outputs: list[str] = msgspec.field(default_factory=list)
    inputs: list[InputAsset] = msgspec.field(default_factory=list)
    labels: dict[str, str] = msgspec.field(default_factory=dict)


class DispatchedPrompt(msgspec.Struct, frozen=True, kw_only=True):
    """One prompt posted to ComfyUI for an attempt (a batch split posts several)."""

    prompt_id: str
    part: int = 0
    number: float | None = None
    output_nodes: list[str] = msgspec.field(default_factory=list)


class JobDispatched(Event, frozen=True, kw_only=True, tag=subjects.JOB_DISPATCHED):
    """The submitter posted the attempt's prompt(s) to a backend and it accepted them."""

    backend_id: str
    prompts: list[DispatchedPrompt]
    client_id: str
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    resumed: bool = False
    node_errors: dict[str, Any] = msgspec.field(default_factory=dict)
    deadline_at: float | None = None
    stall_window_s: float = 120.0


class JobProgressed(Event, frozen=True, kw_only=True, tag=subjects.JOB_PROGRESS):
    """A running prompt reported progress (coalesced by the monitor)."""

    backend_id: str
    prompt_id: str
    node: str | None = None
    node_type: str | None = None
    value: int = 0
    max: int = 0
    percent: float = 0.0


class OutputFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file an output node produced, as ComfyUI's /history reports it."""

    filename: str
    subfolder: str = ""
    type: str = "output"


class JobCompleted(Event, frozen=True, kw_only=True, tag=subjects.JOB_COMPLETED):
    """Every prompt of the attempt finished with success and its outputs are known."""

    backend_id: str
    prompt_ids: list[str]
    outputs: dict[str, list[OutputFile]] = msgspec.field(default_factory=dict)
    cached_nodes: list[str] = msgspec.field(default_factory=list)
    duration_s: float = 0.0


class NodeError(msgspec.Struct, frozen=True, kw_only=True):
    """One validation error of one node from a /prompt reply (`node_errors`)."""

    node_id: str
    class_type: str | None = None
    type: str = ""
    message: str = ""
    details: str = ""
    input_name: str | None = None
    received_value: Any = None
    input_config: Any = None
    dependent_outputs: list[str] = msgspec.field(default_factory=list)


class FailureEvidence(msgspec.Struct, frozen=True, kw_only=True):
    """Everything observed about a failure, unjudged; the classifier reads this.

    ``surface`` says where it was seen: ``execution_error`` (websocket/history),
    ``validation`` (a /prompt 4xx), ``http`` (another HTTP failure), ``client`` (our
    connection to ComfyUI), ``monitor`` (our own observation: stall, timeout, lost
    prompt, wedged queue, missing output), ``log``.
    """

    surface: str
    message: str = ""
    exception_type: str | None = None
    node_id: str | None = None
    node_type: str | None = None
    traceback: list[str] = msgspec.field(default_factory=list)
    validation_type: str | None = None
    node_errors: list[NodeError] = msgspec.field(default_factory=list)
    http_status: int | None = None
    body: str | None = None
    observation: str | None = None
    comfyui_version: str | None = None
    device_type: str | None = None
    current_inputs: dict[str, str] = msgspec.field(default_factory=dict)
    executed: list[str] = msgspec.field(default_factory=list)
    interrupted_by_us: bool = False
    queued: bool = False
    """The monitor saw the prompt only waiting in the backend's queue (never listed as
    running, no node executed): what happened to it says nothing about the job itself."""


class JobFailed(Event, frozen=True, kw_only=True, tag=subjects.JOB_FAILED):
    """An attempt failed; the raw evidence, before classification."""

    backend_id: str | None = None
    prompt_id: str | None = None
    evidence: FailureEvidence


class JobCancelRequested(Event, frozen=True, kw_only=True, tag=subjects.JOB_CANCEL_REQUESTED):
    """The owner asked for the job to stop."""

    reason: str = ""
    requested_by: str = ""


class JobRetryRequested(Event, frozen=True, kw_only=True, tag=subjects.JOB_RETRY_REQUESTED):
    """An operator asked for a finished (aborted/failed) job to run again."""

    force: bool = False
    policy: RecoveryPolicy | None = None
    requested_by: str = ""


class InterruptSent(Event, frozen=True, kw_only=True, tag=subjects.JOB_INTERRUPT_SENT):
    """We asked a backend to interrupt or delete one of our prompts (never global)."""

    backend_id: str
    prompt_id: str
    reason: str
    deleted_from_queue: bool = False


JobEvent = (
    JobSubmitted
    | JobDispatched
    | JobProgressed
    | JobCompleted
    | JobFailed
    | JobCancelRequested
    | JobRetryRequested
    | InterruptSent
)

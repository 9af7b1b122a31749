"""`make schemas`: the AsyncAPI 3.0 document of every subject, generated from the contracts.

Channels come from the codec's subject families (per job, per backend, fixed) and the
streams; payloads are the events' JSON Schemas (msgspec), shared under
``components/schemas``; who receives what comes from the durable consumers' filter
subjects (`contracts.streams.CONSUMERS`); who sends what is the one declarative table
`PUBLISHERS` below (a test checks it against the code that constructs each event).
The request-reply subjects are in `contracts.asyncapi_rpc`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import msgspec

from contracts import asyncapi_rpc, codec, subjects
from contracts.backend import BackendHealth, BackendInventory, BreakerChanged
from contracts.codec import EVENT_TYPES, type_tag
from contracts.control import DispatchResumed, EmergencyStopRequested
from contracts.envelope import SCHEMA_VERSION
from contracts.failure import FailureClassified
from contracts.gpu import GpuSampled
from contracts.job import (
    InterruptSent,
    JobCancelRequested,
    JobCompleted,
    JobDispatched,
    JobFailed,
    JobProgressed,
    JobRetryRequested,
    JobSubmitted,
)
from contracts.recovery import RecoveryDecided
from contracts.streams import CONSUMERS

PUBLISHERS: Final[Mapping[str, tuple[type[Any], ...]]] = {
    "clients": (
        JobSubmitted,
        JobCancelRequested,
        JobRetryRequested,
        EmergencyStopRequested,
        DispatchResumed,
    ),
    "submitter": (JobDispatched, JobFailed, InterruptSent),
    "monitor": (
        JobProgressed,
        JobCompleted,
        JobFailed,
        BackendHealth,
        BackendInventory,
        GpuSampled,
    ),
    "classifier": (FailureClassified,),
    "recovery": (RecoveryDecided, BreakerChanged),
}
"""Who publishes each event (``clients``: `JobClient`, used by the CLI and the HTTP API)."""

_STREAM_SUBJECTS: Final = {
    subjects.EVENTS_STREAM: subjects.EVENTS_SUBJECTS,
    subjects.TELEMETRY_STREAM: subjects.TELEMETRY_SUBJECTS,
    subjects.DEADLETTER_STREAM: subjects.DEADLETTER_SUBJECTS,
}
_REF: Final = "#/components/schemas/{name}"
_MSG_ID_HEADERS: Final = {
    "type": "object",
    "properties": {
        subjects.HDR_MSG_ID: {
            "type": "string",
            "description": "The event_id: JetStream drops a second publish of the same event.",
        }
    },
    "required": [subjects.HDR_MSG_ID],
}
_DEADLETTER_HEADERS: Final = {
    "type": "object",
    "properties": {
        subjects.HDR_DLQ_REASON: {"type": "string", "description": "Why it was not decoded."},
        subjects.HDR_DLQ_SUBJECT: {"type": "string", "description": "The original subject."},
        subjects.HDR_DLQ_CONSUMER: {"type": "string", "description": "The durable consumer."},
    },
    "required": [subjects.HDR_DLQ_REASON],
}
_PARAMS: Final = {
    "jobId": "The job id (letters, digits, '-' and '_'); ``-`` for control events.",
    "backendId": "The backend id as configured in CR_COMFYUI_URLS (or the GPU node name).",
    "originalSubject": "The subject the undecodable message was published on (several tokens).",
}


def camel(tag: str) -> str:
    """``job.cancel_requested`` → ``jobCancelRequested`` (channel, message and op ids)."""
    head, *rest = re.split(r"[._]", tag)
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def address_of(kind: type[Any]) -> str:
    """The channel address of an event class, with ``{jobId}``/``{backendId}`` parameters."""
    route = codec.route_of(kind)
    if route == "job":
        return f"{type_tag(kind)}.{{jobId}}"
    if route == "backend":
        return f"{type_tag(kind)}.{{backendId}}"
    return type_tag(kind)


def pattern_of(address: str) -> str:
    """The NATS subject pattern an address stands for (each parameter is one token; the
    dead-letter's original subject is the rest, ``>``)."""
    return re.sub(r"\{originalSubject\}", ">", re.sub(r"\{\w+\}", "*", address))


def covers(wide: str, narrow: str) -> bool:
    """Whether every subject matching `narrow` also matches the filter `wide`."""
    w, n = wide.split("."), narrow.split(".")
    for i, token in enumerate(w):
        if token == ">":
            return len(n) > i
        if i >= len(n) or n[i] == ">" or (token != "*" and token != n[i]):
            return False
    return len(w) == len(n)


def stream_of(pattern: str) -> str:
    """The stream that stores a subject pattern."""
    for stream, captured in _STREAM_SUBJECTS.items():
        if any(covers(wide, pattern) for wide in captured):
            return stream
    raise ValueError(f"no stream captures {pattern}")


def receivers(pattern: str) -> list[tuple[str, str]]:
    """(service, durable) of every durable consumer whose filter covers `pattern`."""
    stream = stream_of(pattern)
    found = []
    for spec in CONSUMERS:
        if spec.stream == stream and any(covers(f, pattern) for f in spec.filter_subjects):
            found.append((spec.durable.split("-")[0], spec.durable))
    return found


def _schemas() -> dict[str, Any]:
    """Every event's JSON Schema and the types they use, as AsyncAPI schema components."""
    types = (*EVENT_TYPES, *asyncapi_rpc.SCHEMA_TYPES)
    _, components = msgspec.json.schema_components(types, ref_template=_REF)
    return {name: _asyncapi_schema(schema) for name, schema in components.items()}


def _asyncapi_schema(node: Any) -> Any:
    """msgspec's JSON Schema made an AsyncAPI Schema Object: the OpenAPI-style
    ``discriminator`` object is dropped (each variant already pins its ``type``)."""
    if isinstance(node, dict):
        return {k: _asyncapi_schema(v) for k, v in node.items() if k != "discriminator"}
    if isinstance(node, list):
        return [_asyncapi_schema(v) for v in node]
    return node


def _channels() -> Iterator[tuple[str, type[Any] | None, str]]:
    """(channel id, event class or None for the dead letters, address)."""
    for kind in EVENT_TYPES:
        yield camel(type_tag(kind)), kind, address_of(kind)
    yield "deadletter", None, f"{subjects.DEADLETTER_PREFIX}.{{originalSubject}}"


def _channel(cid: str, kind: type[Any] | None, address: str) -> dict[str, Any]:
    params = {p: {"description": _PARAMS[p]} for p in re.findall(r"\{(\w+)\}", address)}
    stream = stream_of(pattern_of(address))
    what = _doc(kind) if kind is not None else "Messages a consumer could not decode, unchanged."
    channel: dict[str, Any] = {
        "address": address,
        "title": type_tag(kind) if kind is not None else "deadletter",
        "description": f"{what}\n\nStored in stream {stream}.",
        "messages": {cid: {"$ref": f"#/components/messages/{cid}"}},
    }
    if params:
        channel["parameters"] = params
    return channel


def _doc(kind: type[Any]) -> str:
    return (kind.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def _message(cid: str, kind: type[Any] | None) -> dict[str, Any]:
    if kind is None:
        return {
            "name": cid,
            "title": "Undecodable message",
            "summary": "The original bytes, with why and where they failed.",
            "contentType": "application/octet-stream",
            "headers": _DEADLETTER_HEADERS,
            "payload": {"description": "The original message body, unchanged."},
        }
    return {
        "name": cid,
        "title": kind.__name__,
        "summary": _doc(kind),
        "contentType": "application/json",
        "headers": _MSG_ID_HEADERS,
        "payload": {"$ref": _REF.format(name=kind.__name__)},
    }


def _operations() -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for cid, kind, address in _channels():
        channel = {"$ref": f"#/channels/{cid}"}
        messages = [{"$ref": f"#/channels/{cid}/messages/{cid}"}]
        senders = (
            sorted({spec.durable.split("-")[0] for spec in CONSUMERS})
            if kind is None  # any consumer dead-letters the bytes it cannot decode
            else [s for s, kinds in PUBLISHERS.items() if kind in kinds]
        )
        for service in senders:
            ops[f"{service}.send.{cid}"] = {
                "action": "send",
                "channel": channel,
                "messages": messages,
                "tags": [{"name": service}],
            }
        for service, durable in receivers(pattern_of(address)):
            ops[f"{service}.receive.{cid}.{durable}"] = {
                "action": "receive",
                "channel": channel,
                "messages": messages,
                "summary": f"Durable pull consumer {durable}",
                "tags": [{"name": service}],
            }
    return ops


def document() -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document as a mapping."""
    channels = list(_channels())
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "comfy-recovery events",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                "Every subject comfy-recovery publishes on NATS JetStream, its payload and "
                "who publishes and consumes it. Generated by `make schemas` from "
                "libs/contracts (subjects, streams, codec, event Structs): do not edit.\n\n"
                "Every payload carries the envelope (event_id, job_id, attempt, occurred_at, "
                "source, causation_id, schema_version) and a `type` naming the event. "
                "Publish with the header Nats-Msg-Id = event_id."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "The local stack (`make run`); set CR_NATS_URL elsewhere.",
            }
        },
        "channels": {
            **{cid: _channel(cid, kind, address) for cid, kind, address in channels},
            **asyncapi_rpc.channels(),
        },
        "operations": {**_operations(), **asyncapi_rpc.operations()},
        "components": {
            "messages": {
                **{cid: _message(cid, kind) for cid, kind, _ in channels},
                **asyncapi_rpc.messages(),
            },
            "schemas": _schemas(),
        },
    }


def render() -> str:
    """The document as YAML text (what `docs/asyncapi.yaml` holds)."""
    header = "# Generated by `make schemas` (python -m contracts.schemas): do not edit.\n"
    return header + msgspec.yaml.encode(document()).decode()

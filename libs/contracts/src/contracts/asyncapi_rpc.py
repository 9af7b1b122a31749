"""The request-reply part of the AsyncAPI document (`contracts.asyncapi`): core NATS
subjects answered by a queue group, not stored in any stream."""

from __future__ import annotations

from typing import Any, Final

from contracts import subjects
from contracts.rpc import StatsRequest

REQUESTERS: Final = {"analyticsStats": ("clients", "submitter")}
"""Who asks (``clients``: the CLI's ``stats``; ``submitter``: the HTTP API's statistics)."""
RESPONDER: Final = {"analyticsStats": ("analytics", subjects.ANALYTICS_QUEUE)}
"""Who answers, and the queue group that makes one instance answer each request."""
SCHEMA_TYPES: Final = (StatsRequest,)
"""Request payloads, added to the document's schema components."""


def channels() -> dict[str, Any]:
    """The request channel, and its reply channel (the requester's inbox, so no address)."""
    return {
        "analyticsStats": {
            "address": subjects.ANALYTICS_QUERY,
            "title": "statistics request",
            "description": (
                "Core NATS request-reply (not stored): ask whichever analytics instance "
                "answers first for the recovery statistics."
            ),
            "messages": {"statsRequest": {"$ref": "#/components/messages/statsRequest"}},
        },
        "analyticsStatsReply": {
            "address": None,
            "title": "statistics reply",
            "description": "The reply, sent to the request's reply subject (an inbox).",
            "messages": {"statsReply": {"$ref": "#/components/messages/statsReply"}},
        },
    }


def messages() -> dict[str, Any]:
    """The request and reply messages."""
    return {
        "statsRequest": {
            "name": "statsRequest",
            "title": "StatsRequest",
            "summary": "Statistics since a time (null: all time), detailed or not.",
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{StatsRequest.__name__}"},
        },
        "statsReply": {
            "name": "statsReply",
            "title": "StatsReply",
            "summary": "The statistics mapping, or {error, error_code} when they are unavailable.",
            "contentType": "application/json",
            "payload": {"type": "object"},
        },
    }


def operations() -> dict[str, Any]:
    """One ``receive`` with its reply for the responder, one ``send`` per requester."""
    request = [{"$ref": "#/channels/analyticsStats/messages/statsRequest"}]
    reply = {
        "channel": {"$ref": "#/channels/analyticsStatsReply"},
        "messages": [{"$ref": "#/channels/analyticsStatsReply/messages/statsReply"}],
    }
    ops: dict[str, Any] = {}
    for service in REQUESTERS["analyticsStats"]:
        ops[f"{service}.send.analyticsStats"] = {
            "action": "send",
            "channel": {"$ref": "#/channels/analyticsStats"},
            "messages": request,
            "reply": reply,
            "tags": [{"name": service}],
        }
    service, queue = RESPONDER["analyticsStats"]
    ops[f"{service}.receive.analyticsStats"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/analyticsStats"},
        "messages": request,
        "reply": reply,
        "summary": f"Queue group {queue}: one instance answers each request",
        "bindings": {"nats": {"queue": queue, "bindingVersion": "0.1.0"}},
        "tags": [{"name": service}],
    }
    return ops

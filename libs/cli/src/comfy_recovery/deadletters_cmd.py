"""``comfy-recovery deadletters``: the messages a consumer gave up on, and why.

A message lands in the dead-letter stream when its bytes cannot be decoded, when handling
it failed permanently, or when it exhausted ``max_deliver`` (reason ``max_deliver: …``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from typing import Any

from nats.js.errors import NotFoundError

from contracts import codec, subjects
from contracts.errors import PermanentError
from cr_client.bus import Bus


@dataclass
class DeadLetter:
    """One dead-lettered message."""

    seq: int
    time: str | None
    consumer: str
    subject: str
    reason: str
    event_type: str | None
    job_id: str | None
    size: int


def add_parser(sub: Any) -> None:
    """Register the subcommand on the CLI's subparsers."""
    c = sub.add_parser("deadletters", help="messages a consumer gave up on, and why")
    c.add_argument("--limit", type=int, default=100, help="newest N (default 100)")
    c.add_argument("--json", action="store_true")


async def read_dead_letters(bus: Bus, limit: int = 100) -> list[DeadLetter]:
    """The newest `limit` dead letters, oldest first."""
    try:
        info = await bus.js.stream_info(subjects.DEADLETTER_STREAM)
    except NotFoundError:
        return []
    first, last = int(info.state.first_seq or 0), int(info.state.last_seq or 0)
    found: list[DeadLetter] = []
    for seq in range(max(first, last - max(limit, 0) + 1), last + 1):
        try:
            msg = await bus.js.get_msg(subjects.DEADLETTER_STREAM, seq)
        except NotFoundError:
            continue
        found.append(_entry(seq, msg))
    return found


def _entry(seq: int, msg: Any) -> DeadLetter:
    headers = dict(msg.headers or {})
    data = msg.data or b""
    event_type = job_id = None
    try:
        event = codec.decode(data)
        event_type, job_id = codec.type_tag(type(event)), event.job_id
    except PermanentError:
        pass
    prefix = subjects.DEADLETTER_PREFIX + "."
    subject = headers.get(subjects.HDR_DLQ_SUBJECT) or str(msg.subject).removeprefix(prefix)
    return DeadLetter(
        seq=seq,
        time=msg.time.isoformat() if getattr(msg, "time", None) else None,
        consumer=headers.get(subjects.HDR_DLQ_CONSUMER, "?"),
        subject=subject,
        reason=headers.get(subjects.HDR_DLQ_REASON, ""),
        event_type=event_type,
        job_id=job_id,
        size=len(data),
    )


def render(letters: list[DeadLetter]) -> str:
    """A human table (one line per message, the reason last)."""
    if not letters:
        return "no dead letters"
    lines = [f"{len(letters)} dead letter(s):"]
    for d in letters:
        what = f"{d.event_type or 'undecodable'} job={d.job_id or '-'}"
        lines.append(f"  #{d.seq} {d.time or '-'} [{d.consumer}] {d.subject} ({what}): {d.reason}")
    return "\n".join(lines)


async def cmd_deadletters(args: argparse.Namespace) -> int:
    """Print the dead letters (``--json``: a JSON list on stdout only)."""
    from comfy_recovery.connection import connect  # the CLI's one way to reach NATS

    async with await connect() as client:
        letters = await read_dead_letters(client.bus, args.limit)
    if args.json:
        print(json.dumps([asdict(d) for d in letters]))
    else:
        print(render(letters))
    return 0

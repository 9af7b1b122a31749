"""``comfy-recovery replay --policy P.json``: what another recovery policy would have done
with the recorded failures (`recovery.replay`), read-only.

It reads the failures (``failure.classified.*``) of the events stream by direct get, each
failed job's whole history with `JobClient.history`, and the backends' telemetry
(inventory, health, breaker) through a short-lived consumer that acks nothing; it never
publishes, so no running job is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from comfy_recovery.errors import EXIT_UNAVAILABLE, EXIT_USAGE, CliError
from contracts import codec, subjects
from contracts.codec import AnyEvent
from contracts.errors import BusUnavailableError, JobNotFoundError, PermanentError
from contracts.failure import FailureClassified
from contracts.policy import RecoveryPolicy
from cr_client.bus import Bus
from cr_client.client import JobClient
from recovery.config import Settings
from recovery.replay import JobReplay, PolicyFor, as_default, override, replay_job
from recovery.replay_report import Telemetry, inventory_from, summarize
from recovery.state_machine import JobEvent

TELEMETRY_FILTER: Final = "backend.>"
"""Inventory, health and breaker events (GPU samples are not decision inputs)."""
BATCH: Final = 500


def add_parser(sub: Any) -> None:
    """Register the subcommand on the CLI's subparsers."""
    c = sub.add_parser(
        "replay", help="what another recovery policy would have decided for recorded failures"
    )
    c.add_argument("--policy", required=True, metavar="P.json", help="a RecoveryPolicy as JSON")
    c.add_argument("--since", metavar="ISO", help="failures at or after (UTC unless zoned)")
    c.add_argument("--until", metavar="ISO", help="failures before (UTC unless zoned)")
    c.add_argument(
        "--as-default",
        action="store_true",
        help="P replaces the live default only; jobs' own policies still apply over it",
    )
    c.add_argument("--json", action="store_true")


def load_policy(path: str) -> RecoveryPolicy:
    """The policy in `path`; unknown fields and wrong types are refused, naming them."""
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise CliError(f"no such file: {path}", EXIT_USAGE) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CliError(f"{path}: not a JSON file: {exc}", EXIT_USAGE) from exc
    if not isinstance(raw, dict):
        raise CliError(f"{path}: expected a JSON object (a recovery policy)", EXIT_USAGE)
    unknown = sorted(set(raw) - set(RecoveryPolicy.__struct_fields__))
    if unknown:
        raise CliError(f"{path}: unknown policy field(s): {', '.join(unknown)}", EXIT_USAGE)
    try:
        policy = msgspec.convert(raw, RecoveryPolicy)
    except msgspec.ValidationError as exc:
        raise CliError(f"{path}: {exc}", EXIT_USAGE) from exc
    if policy.max_attempts < 1:
        raise CliError(f"{path}: max_attempts must be at least 1", EXIT_USAGE)
    return policy


def parse_when(text: str | None, flag: str) -> datetime | None:
    """An ISO 8601 date or time (naive: UTC)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"{flag} {text!r}: expected an ISO 8601 date or time", EXIT_USAGE) from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


async def failed_jobs(
    bus: Bus, since: datetime | None = None, until: datetime | None = None
) -> list[str]:
    """Ids of the jobs with a classified failure in [since, until), by first failure."""
    seen: dict[str, None] = {}
    seq = 1
    while True:
        try:
            msg = await bus.js.get_msg(
                subjects.EVENTS_STREAM,
                seq=seq,
                subject=subjects.all_of(subjects.FAILURE_CLASSIFIED),
                next=True,
                direct=True,
            )
        except NotFoundError:
            return list(seen)
        seq = int(msg.seq or seq) + 1
        try:
            event = codec.decode(msg.data or b"")
        except PermanentError:
            continue
        if isinstance(event, FailureClassified) and _within(event.occurred_at, since, until):
            seen.setdefault(event.job_id)


def _within(at: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or at >= since) and (until is None or at < until)


async def telemetry(bus: Bus) -> list[Telemetry]:
    """Every stored backend inventory, health and breaker event, oldest first."""
    try:
        info = await bus.js.stream_info(subjects.TELEMETRY_STREAM)
    except NotFoundError:
        return []
    if not info.state.messages:
        return []
    config = js_api.ConsumerConfig(
        ack_policy=js_api.AckPolicy.NONE,
        deliver_policy=js_api.DeliverPolicy.ALL,
        inactive_threshold=30.0,
        mem_storage=True,
    )
    sub = await bus.js.pull_subscribe(
        TELEMETRY_FILTER, stream=subjects.TELEMETRY_STREAM, config=config
    )
    found: list[Telemetry] = []
    try:
        pending = 1
        while pending:
            try:
                msgs = await sub.fetch(BATCH, timeout=2)
            except TimeoutError:
                break  # nothing (more) matches the filter
            for msg in msgs:
                pending = msg.metadata.num_pending
                try:
                    event = codec.decode(msg.data)
                except PermanentError:
                    continue
                if isinstance(event, Telemetry):
                    found.append(event)
    finally:
        await _drop(bus, sub)
    return found


async def _drop(bus: Bus, sub: Any) -> None:
    """Delete the short-lived consumer now rather than when it goes inactive."""
    try:
        name = (await sub.consumer_info()).name
        await sub.unsubscribe()
        await bus.js.delete_consumer(subjects.TELEMETRY_STREAM, name)
    except Exception:  # best effort: the server drops it once inactive anyway
        pass


async def live_default(bus: Bus, settings: Settings) -> RecoveryPolicy:
    """The default policy recovery decides with now: the KV value, else its settings'."""
    try:
        entry = await (await bus.kv(subjects.KV_POLICY)).get(subjects.POLICY_KEY)
        if entry.value:
            return msgspec.json.decode(entry.value, type=RecoveryPolicy)
    except (NotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        pass  # no bucket, no key (KeyNotFoundError is a NotFoundError) or a bad value
    return settings.policy.policy()


async def replay(
    bus: Bus, policy_for: PolicyFor, since: datetime | None, until: datetime | None
) -> tuple[list[JobReplay], int]:
    """Every failed job in the window replayed under `policy_for`, each decision also
    re-run under the live default (and the jobs' own policies) to check it reproduces the
    recorded one; and the count of jobs whose history could not be read."""
    client = JobClient(bus, source="cli-replay")
    inventory_at = inventory_from(await telemetry(bus))
    settings = Settings()
    tuning, baseline = settings.tuning(), as_default(await live_default(bus, settings))
    jobs, unreadable = [], 0
    for job_id in await failed_jobs(bus, since, until):
        try:
            events: list[AnyEvent] = await client.history(job_id)
        except JobNotFoundError:
            unreadable += 1
            continue
        per_job = [e for e in events if isinstance(e, JobEvent)]
        jobs.append(replay_job(per_job, policy_for, inventory_at, tuning, baseline=baseline))
    return jobs, unreadable


async def cmd_replay(args: argparse.Namespace) -> int:
    """Print the comparison (``--json``: one JSON object on stdout only)."""
    from comfy_recovery.connection import bus_settings  # the CLI's one way to find NATS

    policy = load_policy(args.policy)
    since, until = parse_when(args.since, "--since"), parse_when(args.until, "--until")
    policy_for = as_default(policy) if args.as_default else override(policy)
    settings = bus_settings()
    try:
        bus = await asyncio.wait_for(Bus.connect(settings, name="cli-replay", ensure=False), 10)
    except (BusUnavailableError, TimeoutError) as exc:
        raise CliError(f"cannot reach NATS at {settings.url}", EXIT_UNAVAILABLE) from exc
    try:
        jobs, unreadable = await replay(bus, policy_for, since, until)
    finally:
        await bus.close()
    report = {
        "policy": msgspec.to_builtins(policy),
        "mode": "as_default" if args.as_default else "override",
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "unreadable_jobs": unreadable,
        **summarize(jobs),
    }
    print(json.dumps(report) if args.json else render(report))
    return 0


def render(report: dict[str, Any]) -> str:
    """The comparison for a person."""
    jobs, decisions = report["jobs"], report["decisions"]
    attempts, gpu = report["attempts"], report["gpu_seconds"]
    lines = [
        f"replayed {jobs['replayed']} failed job(s), {decisions['compared']} recorded "
        f"decision(s), policy {report['mode']}",
        f"decisions changed: {decisions['changed']} of {decisions['compared']} (the recorded "
        f"policy reproduces {decisions['reproduced']['same']} of "
        f"{decisions['reproduced']['checked']} recorded decisions on the rebuilt inputs)",
    ]
    for cls, entry in decisions["by_class"].items():
        how = ", ".join(f"{move} x{n}" for move, n in entry["how"].items())
        lines.append(f"  {cls}: {entry['changed']} of {entry['compared']}{f' ({how})' * bool(how)}")
    lines += [
        f"jobs: {jobs['saved']} saved, {jobs['aborted_earlier']} aborted earlier, "
        f"{jobs['changed']} changed, {jobs['unchanged']} unchanged, {jobs['skipped']} skipped",
        f"attempts: {attempts['recorded']} recorded -> {_span(attempts['replayed'])} replayed",
        f"GPU-seconds: {gpu['recorded']:.1f} recorded -> {_span(gpu['replayed'], '.1f')} replayed",
    ]
    for job in report["differing_jobs"]:
        lines.append(
            f"job {job['job_id']}: {job['verdict'].replace('_', ' ')} (attempts "
            f"{job['attempts']['recorded']} -> {_span(job['attempts']['replayed'])})"
            + (f" {job['note']}" if job["note"] else "")
        )
        for d in job["decisions"]:
            mark = "*" if d["changed"] else " "
            doubt = " [recorded decision not reproduced]" if d["reproduced"] is False else ""
            lines.append(
                f"  {mark} attempt {d['attempt']} {d['failure_class']}: {d['recorded']} -> "
                f"{d['replayed']}" + (f" ({d['reason']})" if d["changed"] else "") + doubt
            )
    return "\n".join(lines)


def _span(pair: list[Any], fmt: str = "") -> str:
    low, high = pair
    return format(low, fmt) if low == high else f"{format(low, fmt)}..{format(high, fmt)}"

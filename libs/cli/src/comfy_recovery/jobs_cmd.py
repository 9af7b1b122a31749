"""The job commands: ``submit``, ``watch``, ``status``, ``history``, and the operator
actions ``cancel``, ``retry``, ``emergency-stop`` and ``resume``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from comfy_recovery import render
from comfy_recovery.connection import connect
from comfy_recovery.errors import (
    EXIT_JOB_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    CliError,
)
from comfy_recovery.params import ParamError, parse_params
from comfy_recovery.policy import PolicyError, policy_from
from contracts import JobStatus
from contracts.errors import JobNotEligibleError, JobNotFoundError, SubmitRefusedError
from contracts.job import JobProgressed
from contracts.workflow import InvalidWorkflowError, validate_workflow
from cr_client import JobClient
from cr_client.client import terminal_status

T = TypeVar("T")


def add_parser(sub: Any) -> None:
    """Register the job commands on the CLI's subparsers."""
    s = sub.add_parser("submit", help="submit an API-format workflow")
    s.add_argument("workflow")
    s.add_argument("--param", action="append", metavar="NODE.INPUT=VALUE")
    s.add_argument("--watch", action="store_true", help="follow the job until it ends")
    s.add_argument("--max-attempts", type=int)
    s.add_argument("--deadline", type=float, help="seconds from submission")
    s.add_argument("--allow-degradation", action="store_true")
    s.add_argument("--fallback", action="append", metavar="MODEL=ALT1,ALT2")
    s.add_argument("--expect-output", action="append", metavar="NODE")
    for name, helptext in (
        ("watch", "follow a job"),
        ("status", "the job's read model"),
        ("history", "the job's event timeline with reasons"),
    ):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("job")
        c.add_argument("--json", action="store_true")
    c = sub.add_parser("cancel", help="cancel a job")
    c.add_argument("job")
    c.add_argument("--reason", default="cancelled from the CLI")
    c = sub.add_parser("retry", help="retry an aborted job")
    c.add_argument("job")
    c.add_argument("--force", action="store_true")
    c = sub.add_parser("emergency-stop", help="interrupt everything and pause dispatch")
    c.add_argument("--reason", default="emergency stop from the CLI")
    sub.add_parser("resume", help="resume dispatch after an emergency stop")


def load_workflow(path: str) -> dict[str, Any]:
    """Read and check an API-format workflow file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise CliError(f"no such file: {path}", EXIT_USAGE) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", EXIT_USAGE) from exc
    except ValueError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}", EXIT_USAGE) from exc
    try:
        return validate_workflow(data)
    except InvalidWorkflowError as exc:
        raise CliError(f"{path}: {exc}", EXIT_USAGE) from exc


async def cmd_submit(args: argparse.Namespace) -> int:
    workflow = load_workflow(args.workflow)
    try:
        params, bindings = parse_params(args.param or [], workflow)
        policy = policy_from(args)
    except (ParamError, PolicyError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    client = await connect()
    async with client:
        try:
            job_id = await client.submit(
                workflow,
                params,
                policy,
                bindings=bindings,
                expected_outputs=args.expect_output or [],
            )
        except SubmitRefusedError as exc:
            raise CliError(f"refused: {exc}", EXIT_USAGE) from exc
        print(job_id)
        if args.watch:
            return await watch(client, job_id)
    return 0


async def watch(client: JobClient, job_id: str) -> int:
    """Show the job live; exit 0 when it completes, 1 otherwise."""
    status = JobStatus.SUBMITTED
    async for event in client.follow(job_id):
        if isinstance(event, JobProgressed):
            render.progress_line(event)
            continue
        print(f"\r  {event.occurred_at:%H:%M:%S} {render.describe(event)}", file=sys.stderr)
        status = terminal_status(event) or status
    print(f"{job_id} {status}")
    return EXIT_OK if status == JobStatus.COMPLETED else EXIT_JOB_FAILED


async def cmd_watch(args: argparse.Namespace) -> int:
    # an unknown job is refused (exit 4), not followed forever waiting for its first event
    await read_job(args.job, lambda client: client.history(args.job))
    async with await connect() as client:
        return await watch(client, args.job)


async def read_job(job: str, read: Callable[[JobClient], Awaitable[T]]) -> T:
    """`read` on a connected client; an unknown `job` is exit 4 (``no job …``)."""
    async with await connect() as client:
        try:
            return await read(client)
        except JobNotFoundError as exc:
            raise CliError(f"no job {job}", EXIT_NOT_FOUND) from exc


async def cmd_status(args: argparse.Namespace) -> int:
    view = await read_job(args.job, lambda client: client.status(args.job))
    if args.json:
        print(msgspec.json.encode(view).decode())
        return 0
    print(f"job {view.job_id}: {view.status}  attempt {view.attempt}  retries {view.retry_count}")
    if view.waiting_reason:
        print(f"  waiting for a backend: {view.waiting_reason}")
    if view.abort_reason:
        print(f"  reason: {view.abort_reason}")
    if view.user_message:
        print(f"  {view.user_message}")
    for step in view.actionable_steps:
        print(f"    - {step}")
    print(f"  backends tried: {', '.join(view.backends_tried) or '-'}")
    print(f"  params: {json.dumps(view.original_params)} → {json.dumps(view.current_params)}")
    rows = [
        (s.attempt, s.failure_class or "-", s.strategy, s.reason[:60], s.success)
        for s in view.recovery_history
    ]
    if rows:
        print(render.table(["attempt", "class", "strategy", "reason", "success"], rows))
    return 0


async def cmd_history(args: argparse.Namespace) -> int:
    events = await read_job(args.job, lambda client: client.history(args.job))
    for event in events:
        if args.json:
            print(msgspec.json.encode(event).decode())
        elif not isinstance(event, JobProgressed):
            print(f"{event.occurred_at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f"  {render.describe(event)}")
    return 0


async def cmd_simple(args: argparse.Namespace) -> int:
    async with await connect() as client:
        try:
            if args.command == "cancel":
                await client.cancel(args.job, args.reason)
            elif args.command == "retry":
                await client.retry(args.job, force=args.force)
            elif args.command == "emergency-stop":
                await client.emergency_stop(args.reason)
            else:
                await client.resume()
        except JobNotFoundError as exc:
            raise CliError(f"no job {args.job}", EXIT_NOT_FOUND) from exc
        except JobNotEligibleError as exc:
            raise CliError(f"refused: {exc}", EXIT_REFUSED) from exc
    print("ok")
    return EXIT_OK

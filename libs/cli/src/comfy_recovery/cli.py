"""``comfy-recovery``: run the stack, submit and follow jobs, inspect and operate them."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from comfy_recovery import logs, render, stackfile
from comfy_recovery.backends_cmd import add_parser as add_backends_parser
from comfy_recovery.backends_cmd import cmd_backends
from comfy_recovery.campaign.command import add_parser as add_campaign_parser
from comfy_recovery.campaign.command import cmd_campaign
from comfy_recovery.deadletters_cmd import add_parser as add_deadletters_parser
from comfy_recovery.deadletters_cmd import cmd_deadletters
from comfy_recovery.errors import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
)
from comfy_recovery.params import ParamError, parse_params
from comfy_recovery.policy import PolicyError, policy_from
from comfy_recovery.replay_cmd import add_parser as add_replay_parser
from comfy_recovery.replay_cmd import cmd_replay
from comfy_recovery.stack import (
    Stack,
    StackConfig,
    StackConfigError,
    StackRunningError,
    run_until_interrupted,
)
from comfy_recovery.stackconfig import data_dir_from_env
from contracts import JobStatus
from contracts.errors import (
    BusUnavailableError,
    JobNotEligibleError,
    JobNotFoundError,
    SubmitRefusedError,
)
from contracts.job import JobProgressed
from contracts.rpc import StatsUnavailableError
from contracts.settings import BusSettings
from contracts.workflow import InvalidWorkflowError, validate_workflow
from cr_client import JobClient
from cr_client.client import terminal_status
from cr_client.rpc import request_stats

__all__ = ["COMMANDS", "CliError", "connect", "main", "parser"]  # exit codes: errors.py


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


def bus_settings() -> BusSettings:
    """``CR_NATS_URL`` if set, else the NATS of a live local stack (``<data>/stack.json``,
    which finds a stack started on moved ports), else the default URL."""
    if not os.environ.get("CR_NATS_URL"):
        running = stackfile.live(data_dir_from_env())
        if running is not None and running.get("nats_url"):
            return BusSettings(url=str(running["nats_url"]))
    return BusSettings()


async def connect() -> JobClient:
    """A client on `bus_settings()`; one clear line when NATS is not there."""
    settings = bus_settings()
    try:
        return await asyncio.wait_for(JobClient.connect(settings, source="cli"), 10)
    except (BusUnavailableError, TimeoutError) as exc:
        raise CliError(
            f"cannot reach NATS at {settings.url} (start the stack with `make run`)",
            EXIT_UNAVAILABLE,
        ) from exc


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
    async with await connect() as client:
        return await watch(client, args.job)


async def cmd_status(args: argparse.Namespace) -> int:
    async with await connect() as client:
        try:
            view = await client.status(args.job)
        except JobNotFoundError as exc:
            raise CliError(f"no job {args.job}", EXIT_NOT_FOUND) from exc
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
    async with await connect() as client:
        try:
            events = await client.history(args.job)
        except JobNotFoundError as exc:
            raise CliError(f"no job {args.job}", EXIT_NOT_FOUND) from exc
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


async def cmd_stats(args: argparse.Namespace) -> int:
    from analytics.stats_client import format_stats

    try:
        since = datetime.fromisoformat(args.since) if args.since else None
    except ValueError as exc:
        raise CliError(f"--since {args.since!r} is not an ISO date/time", EXIT_USAGE) from exc
    async with await connect() as client:
        try:
            stats = await request_stats(client.bus, since, args.detailed)
        except StatsUnavailableError as exc:
            raise CliError(
                f"statistics unavailable: {exc} (is analytics running?)", EXIT_UNAVAILABLE
            ) from exc
    print(
        json.dumps(stats, indent=2, default=str)
        if args.json
        else format_stats(stats, args.detailed),
        end="" if not args.json else "\n",
    )
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from classifier.cli import run_classify

    return int(run_classify(sys.stdin, sys.stdout))


async def cmd_up(args: argparse.Namespace) -> int:
    try:
        config = StackConfig.from_env()
    except StackConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    if args.cluster is not None:
        if not 1 <= args.cluster <= 5:
            raise CliError(f"--cluster {args.cluster}: between 1 and 5 nodes", EXIT_USAGE)
        if config.nats_url:
            raise CliError("--cluster starts a local NATS cluster; unset CR_NATS_URL", EXIT_USAGE)
        config.nats_cluster = args.cluster
    try:
        await run_until_interrupted(Stack(config))
    except StackRunningError as exc:
        raise CliError(str(exc), EXIT_REFUSED) from exc
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise CliError(f"the stack stopped: {exc}", EXIT_UNAVAILABLE) from exc
    return EXIT_OK


async def cmd_demo(args: argparse.Namespace) -> int:
    from comfy_recovery.demo import run_demo

    return int(await run_demo(timeout=args.timeout))


VERBOSE = ("-v", "--verbose")
VERBOSE_KW: dict[str, Any] = {"action": "count", "help": "log on stderr: -v info, -vv debug"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="comfy-recovery", description=__doc__, epilog=EXIT_CODES)
    p.add_argument(*VERBOSE, **VERBOSE_KW, default=0)
    sub = p.add_subparsers(dest="command", required=True)
    u = sub.add_parser(
        "up", help="run NATS, all services and (without CR_COMFYUI_URLS) the simulator"
    )
    u.add_argument(
        "--cluster", type=int, metavar="N", help="N clustered nats-servers (R3 streams for 3)"
    )
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
    c = sub.add_parser("stats", help="recovery statistics from analytics")
    c.add_argument("--since")
    c.add_argument("--json", action="store_true")
    c.add_argument("--detailed", action="store_true")
    sub.add_parser("classify", help="classify JSON-lines failures from stdin")
    c = sub.add_parser("demo", help="bring the stack up if needed and run a few jobs")
    c.add_argument("--timeout", type=float, default=300)
    add_campaign_parser(sub)
    add_backends_parser(sub)
    add_deadletters_parser(sub)
    add_replay_parser(sub)
    for command in sub.choices.values():  # -v is accepted after the subcommand too
        command.add_argument(*VERBOSE, **VERBOSE_KW, default=argparse.SUPPRESS)
    return p


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "submit": cmd_submit,
    "watch": cmd_watch,
    "status": cmd_status,
    "history": cmd_history,
    "cancel": cmd_simple,
    "retry": cmd_simple,
    "emergency-stop": cmd_simple,
    "resume": cmd_simple,
    "stats": cmd_stats,
    "up": cmd_up,
    "demo": cmd_demo,
    "campaign": cmd_campaign,
    "backends": cmd_backends,
    "deadletters": cmd_deadletters,
    "replay": cmd_replay,
}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``comfy-recovery`` command."""
    args = parser().parse_args(argv)
    logs.configure(args.verbose)
    try:
        if args.command == "classify":
            code = cmd_classify(args)
        else:
            code = asyncio.run(COMMANDS[args.command](args))
    except CliError as exc:
        print(f"comfy-recovery: error: {exc}", file=sys.stderr)
        code = exc.code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    sys.exit(code)

"""``comfy-recovery``: run the stack, submit and follow jobs, inspect and operate them."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from comfy_recovery import logs
from comfy_recovery.backends_cmd import add_parser as add_backends_parser
from comfy_recovery.backends_cmd import cmd_backends
from comfy_recovery.campaign.command import add_parser as add_campaign_parser
from comfy_recovery.campaign.command import cmd_campaign
from comfy_recovery.connection import connect
from comfy_recovery.deadletters_cmd import add_parser as add_deadletters_parser
from comfy_recovery.deadletters_cmd import cmd_deadletters
from comfy_recovery.errors import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CliError,
)
from comfy_recovery.jobs_cmd import add_parser as add_jobs_parser
from comfy_recovery.jobs_cmd import cmd_history, cmd_simple, cmd_status, cmd_submit, cmd_watch
from comfy_recovery.replay_cmd import add_parser as add_replay_parser
from comfy_recovery.replay_cmd import cmd_replay
from comfy_recovery.up_cmd import add_parser as add_up_parser
from comfy_recovery.up_cmd import cmd_up
from contracts.rpc import StatsUnavailableError
from cr_client.rpc import request_stats

__all__ = ["COMMANDS", "CliError", "main", "parser"]  # exit codes: errors.py


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


async def cmd_demo(args: argparse.Namespace) -> int:
    from comfy_recovery.demo import run_demo

    return int(await run_demo(timeout=args.timeout))


VERBOSE = ("-v", "--verbose")
VERBOSE_KW: dict[str, Any] = {"action": "count", "help": "log on stderr: -v info, -vv debug"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="comfy-recovery", description=__doc__, epilog=EXIT_CODES)
    p.add_argument(*VERBOSE, **VERBOSE_KW, default=0)
    sub = p.add_subparsers(dest="command", required=True)
    add_up_parser(sub)
    add_jobs_parser(sub)
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

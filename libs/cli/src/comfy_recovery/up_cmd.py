"""``comfy-recovery up``: the local stack, until Ctrl-C, SIGTERM or a supervisor failure."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from comfy_recovery.errors import EXIT_OK, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE, CliError
from comfy_recovery.stack import Stack, StackConfig, StackConfigError, StackRunningError


def add_parser(sub: Any) -> None:
    """Register the subcommand on the CLI's subparsers."""
    u = sub.add_parser(
        "up", help="run NATS, all services and (without CR_COMFYUI_URLS) the simulator"
    )
    u.add_argument(
        "--cluster", type=int, metavar="N", help="N clustered nats-servers (R3 streams for 3)"
    )
    u.add_argument(
        "--instances",
        type=int,
        default=1,
        metavar="N",
        help="N processes of every service, side by side on the same durables",
    )


async def cmd_up(args: argparse.Namespace) -> int:
    """Run the stack until interrupted (`--cluster N`: N clustered nats-servers)."""
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
    if not 1 <= args.instances <= 4:
        raise CliError(f"--instances {args.instances}: between 1 and 4", EXIT_USAGE)
    config.instances = args.instances
    try:
        await run_until_interrupted(Stack(config))
    except StackRunningError as exc:
        raise CliError(str(exc), EXIT_REFUSED) from exc
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise CliError(f"the stack stopped: {exc}", EXIT_UNAVAILABLE) from exc
    return EXIT_OK


async def run_until_interrupted(stack: Stack) -> None:
    """`up`: start, wait for Ctrl-C, SIGTERM or a supervisor failure; always stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
        stack.say("up; Ctrl-C stops everything")
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(stack.failed.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
    finally:
        try:
            await stack.stop()  # a second Ctrl-C meanwhile must not cut the cleanup short
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    if stack.failed.is_set():
        raise RuntimeError("a supervisor failed; the stack was stopped (see the log above)")

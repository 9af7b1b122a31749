"""Run simulated backends until SIGTERM/SIGINT: `python -m comfysim --backends 2`.

Prints one line per backend, `backend <id> http://127.0.0.1:<port>`, then flushes stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from comfysim.cluster import SimCluster
from comfysim.spec import GIB, SimBackendSpec


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m comfysim", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--backends", type=int, help="number of identical backends (ids sim-1, sim-2, ...)"
    )
    source.add_argument("--config", type=Path, help="JSON file: a list of SimBackendSpec objects")
    parser.add_argument("--base-port", type=int, default=0, help="first port (0 = free ports)")
    parser.add_argument(
        "--vram-gib", type=float, nargs="+", help="VRAM per backend (one value = all)"
    )
    parser.add_argument("--step-time", type=float, help="seconds per sampler step")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def build_specs(args: argparse.Namespace) -> list[SimBackendSpec]:
    """Specs from --config, or N backends shaped by the other flags."""
    if args.config is not None:
        return [SimBackendSpec.from_dict(item) for item in json.loads(args.config.read_text())]
    count = args.backends
    vram = args.vram_gib or [24.0]
    if len(vram) not in (1, count):
        raise SystemExit("--vram-gib takes one value, or one per backend")
    specs = []
    for index in range(count):
        spec = SimBackendSpec(
            id=f"sim-{index + 1}",
            port=args.base_port + index if args.base_port else 0,
            vram_total=int(vram[index % len(vram)] * GIB),
        )
        if args.step_time is not None:
            spec.step_time_s = args.step_time
        specs.append(spec)
    return specs


async def serve(specs: list[SimBackendSpec]) -> None:
    """Run the cluster until a termination signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with SimCluster(specs) as cluster:
        for backend_id, url in cluster.urls.items():
            print(f"backend {backend_id} {url}")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(serve(build_specs(args)))


if __name__ == "__main__":
    main()

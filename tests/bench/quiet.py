"""Run one benchmark with its logs kept off stdout: ``python -m tests.bench.quiet TARGET``.

TARGET is a module (``tests.bench.bus``) or a script path. stdlib logging and structlog go
to stderr at warning (structlog's default would print every record on stdout), so stdout
carries the figures only. A benchmark that configures logging itself still logs to stderr.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from comfy_recovery import logs


def main(argv: list[str]) -> None:
    """Configure quiet logging, then run `argv[0]` as ``__main__`` with the rest as args."""
    if not argv:
        raise SystemExit("usage: python -m tests.bench.quiet MODULE|SCRIPT [ARGS...]")
    target, *rest = argv
    logs.configure(0, name="bench")
    sys.argv = [target, *rest]
    if target.endswith(".py") or Path(target).exists():
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])

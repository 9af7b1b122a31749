"""Entry point: ``python -m monitor``."""

from __future__ import annotations

from cr_runtime.service import main as run_main
from monitor.app import SERVICE, build
from monitor.config import Settings


def main() -> None:
    """Build settings from the environment and run until SIGINT/SIGTERM."""
    run_main(SERVICE, Settings, build)


if __name__ == "__main__":
    main()

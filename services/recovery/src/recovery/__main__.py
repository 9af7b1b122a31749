"""Entry point: ``python -m recovery`` (Settings from the environment → run)."""

from __future__ import annotations

from cr_runtime.service import main as run_main
from recovery.app import SERVICE, build
from recovery.config import Settings


def main() -> None:
    """Build the settings once and run the service."""
    run_main(SERVICE, Settings, build)


if __name__ == "__main__":
    main()

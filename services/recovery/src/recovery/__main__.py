"""Entry point: ``python -m recovery`` (Settings from the environment → run)."""

from __future__ import annotations

import asyncio

from recovery.app import run
from recovery.config import Settings


def main() -> None:
    """Build the settings once and run the service."""
    asyncio.run(run(Settings()))


if __name__ == "__main__":
    main()

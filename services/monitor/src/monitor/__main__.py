"""Entry point: ``python -m monitor``."""

from __future__ import annotations

import asyncio

from monitor.app import run
from monitor.config import Settings


def main() -> None:
    """Build settings from the environment and run until SIGINT/SIGTERM."""
    asyncio.run(run(Settings()))


if __name__ == "__main__":
    main()

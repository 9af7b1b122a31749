"""Entry point: ``python -m submitter``."""

from __future__ import annotations

import asyncio

from submitter.app import run
from submitter.config import Settings


def main() -> None:
    """Build settings from the environment and run until SIGINT/SIGTERM."""
    asyncio.run(run(Settings()))


if __name__ == "__main__":
    main()

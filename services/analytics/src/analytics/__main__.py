"""``python -m analytics``: build the settings once and run the service."""

from __future__ import annotations

import asyncio

from analytics.app import run
from analytics.config import Settings


def main() -> None:
    """Entry point of ``comfy-recovery-analytics``."""
    asyncio.run(run(Settings()))


if __name__ == "__main__":
    main()

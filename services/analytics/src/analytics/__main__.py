"""``python -m analytics``: build the settings once and run the service."""

from __future__ import annotations

from analytics.app import SERVICE, build_service, tune_gc
from analytics.config import Settings
from cr_runtime.service import main as run_main


def main() -> None:
    """Entry point of ``comfy-recovery-analytics``."""
    tune_gc()
    run_main(SERVICE, Settings, build_service)


if __name__ == "__main__":
    main()

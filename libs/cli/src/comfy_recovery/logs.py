"""Logging for the CLI: everything on stderr, warnings only unless ``-v``.

stdout is kept for results (one JSON document per ``--json``), so neither stdlib logging
nor structlog (which the services and contracts use) may ever write there.
"""

from __future__ import annotations

import logging

from cr_runtime.logs import StderrHandler, configure_logging


def level_for(verbose: int) -> int:
    """WARNING by default, INFO with ``-v``, DEBUG with ``-vv``."""
    if verbose <= 0:
        return logging.WARNING
    return logging.INFO if verbose == 1 else logging.DEBUG


def configure(verbose: int = 0, *, name: str = "cli") -> None:
    """Send stdlib and structlog records to stderr at the level `verbose` asks for."""
    level = level_for(verbose)
    logging.basicConfig(level=level, handlers=[StderrHandler()], force=True)
    configure_logging(name, logging.getLevelName(level))

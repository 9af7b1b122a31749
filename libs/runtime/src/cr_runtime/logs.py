"""Logging for services and the CLI: structlog to the current stderr, stdlib lines too."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

CLIENT_LOGGER = "cr_client"
"""The stdlib logger the client package writes to (it does not depend on structlog)."""


class LiveStderr:
    """``sys.stderr`` as it is at each write, not as it was when logging was configured:
    a redirection (pytest's capture, a CLI run in process) may replace and close the old one."""

    def write(self, text: str) -> int:
        """Write to the current stderr."""
        return sys.stderr.write(text)

    def flush(self) -> None:
        """Flush the current stderr."""
        sys.stderr.flush()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stdlib handler that writes to the current ``sys.stderr`` (see `LiveStderr`)."""

    @property
    def stream(self) -> Any:
        """The current stderr."""
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        del value  # always the current stderr


def configure_logging(service: str, level: str = "INFO") -> None:
    """structlog once per process: JSON when stderr is not a TTY, console otherwise."""
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    chain: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*chain, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=LiveStderr()),  # type: ignore[arg-type]
    )
    structlog.contextvars.bind_contextvars(service=service)
    _render_client_logs([*chain, structlog.stdlib.ExtraAdder()], renderer, level)


def _render_client_logs(
    chain: list[structlog.types.Processor], renderer: structlog.types.Processor, level: str
) -> None:
    """Lines of `cr_client` (stdlib logging, with fields in ``extra``) rendered like ours."""
    handler = StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=chain,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    client_log = logging.getLogger(CLIENT_LOGGER)
    client_log.handlers = [handler]
    client_log.setLevel(level)
    client_log.propagate = False

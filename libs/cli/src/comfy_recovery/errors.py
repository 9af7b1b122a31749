"""User-facing CLI errors and the exit codes every command shares (documented in README)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_NOT_FOUND = 4
EXIT_REFUSED = 5
EXIT_INTERRUPTED = 130

EXIT_CODES = """exit codes: 0 done (a watched job completed), 1 a watched job ended
without completing, 2 usage error or input refused before sending, 3 NATS or a needed
service unreachable (or the local stack could not start), 4 no such job, 5 refused by the
system (e.g. a stack already runs from this data directory), 130 interrupted (Ctrl-C)"""


class CliError(Exception):
    """A user-facing error: printed on one line, exit code attached."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code

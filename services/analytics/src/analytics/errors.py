"""Errors of the analytics service, classified by what the caller should do.

AnalyticsError
├── StoreUnavailableError (TransientError)  ClickHouse/chDB cannot take the call now;
│                                           the consumer naks the batch and it comes back
├── StoreRejectedError   (PermanentError)   the store refused the statement itself
│                                           (bad SQL, bad data): retrying cannot help
└── MigrationError       (PermanentError)   a migration file is malformed or was edited
                                            after it was applied

(A stats request nobody answers raises `contracts.rpc.StatsUnavailableError`.)
"""

from __future__ import annotations

from contracts.errors import PermanentError, TransientError


class AnalyticsError(Exception):
    """Root of every error raised by `analytics`."""

    error_code = "ANALYTICS_ERROR"


class StoreUnavailableError(AnalyticsError, TransientError):
    """The store is down, unreachable, overloaded or out of space; try again later."""

    error_code = "STORE_UNAVAILABLE"


class StoreRejectedError(AnalyticsError, PermanentError):
    """The store rejected the statement (syntax, schema, data); a bug, not an outage."""

    error_code = "STORE_REJECTED"


class MigrationError(AnalyticsError, PermanentError):
    """A migration is malformed, or an applied one no longer matches its file."""

    error_code = "MIGRATION_ERROR"

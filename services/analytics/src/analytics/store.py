"""The ClickHouse adapter (embedded chDB or a server): the only clickhouse-connect code.

Every call runs in one dedicated worker thread: chDB's client is synchronous and its engine
is per process, so one thread serialises all use of it and keeps the event loop free.
Foreign exceptions become `StoreUnavailableError` (try later) or `StoreRejectedError`
(a bug) here and nowhere else.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import clickhouse_connect
import structlog
from chdb import ChdbError
from clickhouse_connect.driver import exceptions as ch

from analytics.errors import AnalyticsError, StoreRejectedError, StoreUnavailableError
from analytics.migrations import LEDGER_DDL, load_migrations, pending
from analytics.projection import COLUMNS, EventRow

log = structlog.get_logger(__name__)
T = TypeVar("T")

EVENTS_TABLE: Final = "events"
TRANSIENT_CODES: Final = frozenset(
    {
        74,  # CANNOT_READ_FROM_FILE_DESCRIPTOR
        75,  # CANNOT_WRITE_TO_FILE_DESCRIPTOR
        76,  # CANNOT_OPEN_FILE
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        243,  # NOT_ENOUGH_SPACE
        252,  # TOO_MANY_PARTS
        279,  # ALL_CONNECTION_TRIES_FAILED
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        999,  # KEEPER_EXCEPTION
        1000,  # POCO_EXCEPTION (network and I/O inside the server)
    }
)
"""ClickHouse error codes that mean "the store cannot do it now", not "the statement is bad"."""

UPSTREAM_ERRORS: Final = (ch.ClickHouseError, ChdbError, OSError)
"""Every foreign exception type this adapter lets out of a call, before translation."""


@dataclass(frozen=True)
class StoreConfig:
    """Where the projection lives: embedded chDB on a path, or a ClickHouse server."""

    interface: str = "chdb"
    chdb_path: str = ".data/analytics"
    host: str = "localhost"
    port: int = 8123
    username: str = "default"
    password: str = ""
    database: str = "comfy_recovery"
    secure: bool = False


ClientFactory = Callable[[StoreConfig], Any]


def connect_client(config: StoreConfig) -> Any:
    """A clickhouse-connect client for `config` (no database selected yet)."""
    if config.interface == "chdb":
        return clickhouse_connect.get_client(interface="chdb", path=config.chdb_path)
    return clickhouse_connect.get_client(
        interface="https" if config.secure else "http",
        host=config.host,
        port=config.port,
        username=config.username,
        password=config.password,
        autogenerate_session_id=False,
        connect_timeout=5,
        send_receive_timeout=60,
    )


def translate(exc: BaseException) -> AnalyticsError:
    """Our error for a foreign one: by ClickHouse error code first, then by type."""
    code = getattr(exc, "code", None)
    if isinstance(code, int) and code in TRANSIENT_CODES:
        return StoreUnavailableError(f"store unavailable: {exc}")
    if isinstance(exc, ch.OperationalError | ch.InterfaceError | ChdbError | OSError):
        return StoreUnavailableError(f"store unavailable: {exc}")
    if type(exc) is ch.DatabaseError and code is None:
        # no ClickHouse code: an HTTP error page from a proxy or a bare engine failure
        return StoreUnavailableError(f"store unavailable: {exc}")
    return StoreRejectedError(f"store rejected the statement: {exc}")


class Store:
    """The analytics database: opened lazily, migrated on open, reopened after an outage.

    Args:
        config: where the store is.
        connect: builds the clickhouse-connect client (tests may wrap the real one).
    """

    def __init__(self, config: StoreConfig, connect: ClientFactory = connect_client) -> None:
        self.config = config
        self._connect = connect
        self._client: Any = None
        self._insert_types: list[str] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-store")

    @property
    def is_open(self) -> bool:
        """Whether the store was reached and migrated."""
        return self._client is not None

    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent)."""
        await self._call(self._open)

    async def insert(self, rows: Sequence[EventRow], token: str) -> None:
        """Insert event rows; `token` lets ClickHouse drop an identical retried batch."""
        await self._call(self._insert, rows, token)

    async def query(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Rows of `sql` (server-side `{name:Type}` parameters) as dicts."""
        return await self._call(self._query, sql, dict(params or {}))

    async def ping(self) -> bool:
        """Whether the store answers right now."""
        try:
            await self.query("SELECT 1")
        except StoreUnavailableError:
            return False
        return True

    async def close(self) -> None:
        """Close the client and the worker thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(_guarded, fn, *args))

    def _open(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            client = self._connect(self.config)
        except UPSTREAM_ERRORS as exc:
            raise StoreUnavailableError(f"cannot open the store: {exc}") from exc
        try:
            self._prepare(client)
        except BaseException:
            client.close()
            raise
        self._client = client
        log.info("store.opened", interface=self.config.interface, database=self.config.database)
        return client

    def _prepare(self, client: Any) -> None:
        database = self.config.database
        client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        client.database = database
        self._migrate(client)
        described = client.query(f"DESCRIBE TABLE {EVENTS_TABLE}").named_results()
        types = {row["name"]: row["type"] for row in described}
        self._insert_types = [types[column] for column in COLUMNS]

    def _migrate(self, client: Any) -> None:
        client.command(LEDGER_DDL)
        ledger = client.query(
            "SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version"
        )
        applied = dict(ledger.result_rows)
        for migration in pending(load_migrations(self.config.database), applied):
            for statement in migration.statements:
                client.command(statement)
            client.insert(
                "schema_migrations",
                [[migration.version, migration.name, migration.checksum]],
                column_names=["version", "name", "checksum"],
            )
            log.info("store.migrated", version=migration.version, name=migration.name)

    def _insert(self, rows: Sequence[EventRow], token: str) -> None:
        client = self._open()
        client.insert(
            EVENTS_TABLE,
            rows,
            column_names=list(COLUMNS),
            column_type_names=self._insert_types,
            settings={"insert_deduplication_token": token},
        )

    def _query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        client = self._open()
        return list(client.query(sql, parameters=params).named_results())

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _guarded(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` and translate any foreign error into ours."""
    try:
        return fn(*args)
    except UPSTREAM_ERRORS as exc:
        raise translate(exc) from exc

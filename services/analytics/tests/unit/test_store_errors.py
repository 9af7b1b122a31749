"""Every foreign exception the store can meet is translated into ours, by code then type."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from chdb import ChdbError
from clickhouse_connect.driver import exceptions as ch

from analytics.errors import StoreRejectedError, StoreUnavailableError
from analytics.store import UPSTREAM_ERRORS, Store, StoreConfig, translate
from contracts.errors import PermanentError, TransientError

CLICKHOUSE_TYPES = [
    cls for _, cls in inspect.getmembers(ch, inspect.isclass) if issubclass(cls, ch.ClickHouseError)
]


def instance_of(cls: type[BaseException]) -> BaseException:
    return cls() if cls is ch.StreamClosedError else cls("boom")  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("cls", [*CLICKHOUSE_TYPES, ChdbError, OSError, ConnectionError])
def test_every_upstream_type_is_mapped_to_transient_or_permanent(cls: type[BaseException]) -> None:
    assert issubclass(cls, UPSTREAM_ERRORS)
    error = translate(instance_of(cls))
    assert isinstance(error, StoreUnavailableError | StoreRejectedError)
    assert isinstance(error, TransientError) != isinstance(error, PermanentError)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ch.OperationalError("connection refused"), StoreUnavailableError),
        (ch.StreamFailureError("stream broke"), StoreUnavailableError),
        (ch.DatabaseError("502 from a proxy"), StoreUnavailableError),
        (ch.DatabaseError("MEMORY_LIMIT_EXCEEDED", code=241), StoreUnavailableError),
        (ch.DatabaseError("NOT_ENOUGH_SPACE", code=243), StoreUnavailableError),
        (ch.ProgrammingError("TOO_MANY_PARTS", code=252), StoreUnavailableError),
        (ch.DatabaseError("UNKNOWN_TABLE", code=60), StoreRejectedError),
        (ch.ProgrammingError("SYNTAX_ERROR", code=62), StoreRejectedError),
        (ch.ProgrammingError("The client has been closed"), StoreRejectedError),
        (ch.DataError("bad value"), StoreRejectedError),
        (OSError(28, "No space left on device"), StoreUnavailableError),
    ],
)
def test_errors_are_classified_by_code_first_then_by_type(
    exc: BaseException, expected: type[Exception]
) -> None:
    assert type(translate(exc)) is expected


async def test_a_store_that_cannot_be_opened_is_unavailable_not_broken() -> None:
    def refuse(_: StoreConfig) -> Any:
        raise ch.ProgrammingError("Unable to open the chdb engine: locked by another process")

    store = Store(StoreConfig(), connect=refuse)
    with pytest.raises(StoreUnavailableError) as raised:
        await store.insert([], "token")
    assert isinstance(raised.value.__cause__, ch.ProgrammingError)
    assert not store.is_open and not await store.ping()
    await store.close()

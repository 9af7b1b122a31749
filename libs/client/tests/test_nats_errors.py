"""Every nats-py error class has one meaning, decided in `cr_client.nats_errors`."""

from __future__ import annotations

import inspect

import pytest
from nats import errors as nerr
from nats.js import errors as jerr

from contracts.errors import BusUnavailableError, TransientError
from cr_client.nats_errors import KIND, TRANSIENT, Kind, kind_of, translated


def _error_classes() -> set[type[BaseException]]:
    return {
        cls
        for module in (nerr, jerr)
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, BaseException)
        and cls.__module__ == module.__name__
    }


def test_every_nats_error_class_is_classified() -> None:
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in _error_classes() - set(KIND))
    assert not missing, f"classify these in cr_client/nats_errors.py: {missing}"


def test_the_reconnect_case_is_transient_everywhere() -> None:
    """The drift the issue found: a closed connection is transient for every caller."""
    for cls in (nerr.ConnectionClosedError, nerr.TimeoutError, jerr.NoStreamResponseError):
        assert cls in TRANSIENT
    assert kind_of(nerr.ConnectionClosedError()) is Kind.TRANSIENT
    assert kind_of(TimeoutError()) is Kind.TRANSIENT
    assert kind_of(jerr.KeyNotFoundError()) is Kind.ABSENT
    assert kind_of(jerr.KeyWrongLastSequenceError()) is Kind.CONFLICT
    assert kind_of(nerr.MaxPayloadError()) is Kind.REFUSED
    assert kind_of(ValueError()) is None


def test_translated_raises_the_callers_transient_error_chained() -> None:
    class StoreDown(TransientError):
        pass

    with (
        pytest.raises(BusUnavailableError, match="claiming k: ") as caught,
        translated("claiming k"),
    ):
        raise nerr.ConnectionClosedError
    assert isinstance(caught.value.__cause__, nerr.ConnectionClosedError)
    with pytest.raises(StoreDown) as down, translated("kv", StoreDown, retry_after_s=2.5):
        raise nerr.TimeoutError
    assert down.value.retry_after_s == 2.5
    with pytest.raises(jerr.KeyNotFoundError), translated("kv"):
        raise jerr.KeyNotFoundError

"""`free_port_block`: consecutive free ports below the ephemeral range, skipping taken ones."""

from __future__ import annotations

import random
import socket

import pytest

from comfy_recovery import natsd
from comfy_recovery.natsd import BLOCK_PORTS, free_port_block


def test_a_block_is_free_and_below_the_ephemeral_range() -> None:
    base = free_port_block(8)
    assert BLOCK_PORTS[0] <= base and base + 8 <= BLOCK_PORTS[1] <= 32_768
    for port in range(base, base + 8):
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_block_with_a_taken_port_is_passed_over() -> None:
    first = free_port_block(3, random.Random(7))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first + 1))
        taken.listen()
        assert free_port_block(3, random.Random(7)) != first  # same draws, next block


def test_no_free_block_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(natsd, "_bindable", lambda port: False)
    with pytest.raises(RuntimeError, match="no 4 consecutive free ports"):
        free_port_block(4)

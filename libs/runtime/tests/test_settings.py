"""One way to name an instance: the setting, else host and pid."""

from __future__ import annotations

import os
import socket

import pytest

from cr_runtime.settings import ServiceSettings, instance_source


class Settings(ServiceSettings):
    model_config = {"env_prefix": "CR_TESTSVC_"}


def test_instance_setting_names_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CR_TESTSVC_INSTANCE", "pod-7")
    assert Settings().source("testsvc") == "testsvc/pod-7"


def test_without_a_name_host_and_pid() -> None:
    expected = f"testsvc/{socket.gethostname()}-{os.getpid()}"
    assert Settings().source("testsvc") == expected == instance_source("testsvc")

"""The image's entry points are imported in fresh interpreters (seconds each): they start in
the background with the first deploy test and are checked last, so they cost little."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.deploy.k8s import ROOT, SERVICES

ENTRY_POINT_TEST = "test_the_image_entry_point_imports"


class EntryPoints:
    """`import <svc>.__main__` for every service that has one, each in its own interpreter."""

    def __init__(self) -> None:
        self.running = {
            service: subprocess.Popen(
                [sys.executable, "-c", f"import {service}.__main__ as m; assert callable(m.main)"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd="/",
            )
            for service in SERVICES
            if (ROOT / "services" / service / "src" / service / "__main__.py").exists()
        }
        self.done: dict[str, subprocess.CompletedProcess[str]] = {}

    def result(self, service: str) -> subprocess.CompletedProcess[str] | None:
        if service not in self.running:
            return None
        if service not in self.done:
            process = self.running[service]
            out, err = process.communicate(timeout=120)
            self.done[service] = subprocess.CompletedProcess(
                process.args, process.returncode, out, err
            )
        return self.done[service]

    def close(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.kill()
            process.communicate()


@pytest.fixture(scope="session", autouse=True)
def entry_points(request: pytest.FixtureRequest) -> Iterator[EntryPoints | None]:
    items = request.session.items
    if not any(getattr(i, "originalname", None) == ENTRY_POINT_TEST for i in items):
        yield None  # not selected: start nothing
        return
    started = EntryPoints()
    yield started
    started.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Check the entry points after everything else (their imports run meanwhile)."""
    last = [i for i in items if getattr(i, "originalname", None) == ENTRY_POINT_TEST]
    if last:
        items[:] = [i for i in items if i not in last] + last

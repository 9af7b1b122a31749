"""Schemathesis against the OpenAPI spec of a running submitter: no request yields a 500."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from comfy_recovery.natsd import free_port
from tests.support.natsd import NatsServer

pytestmark = pytest.mark.integration
TOKEN = "fuzz-token"


@pytest.fixture(scope="module")
def api_url(nats_server: NatsServer) -> Iterator[str]:
    """A real `python -m submitter` with its API on a free port."""
    port = free_port()
    env = {
        **os.environ,
        "CR_NATS_URL": nats_server.url,
        "CR_COMFYUI_URLS": "",
        "CR_SUBMITTER_API_PORT": str(port),
        "CR_SUBMITTER_API_TOKENS": TOKEN,
        "CR_SUBMITTER_API_MAX_BODY_BYTES": "65536",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "submitter"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{url}/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def check(case: Any) -> None:
    """One generated request: anything but a 5xx (503 = a dependency is down, by design)."""
    if case.path.endswith("/events"):
        case.path_parameters = {"job_id": "no-such-job"}  # a live stream never ends
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code < 500 or response.status_code == 503, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    )
    if response.status_code >= 400:
        content_type = response.headers["content-type"]
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), content_type
        assert "Traceback" not in response.text


def test_no_generated_request_makes_the_api_fail_with_a_500(api_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case: Any) -> None:
            check(case)

        fuzz()

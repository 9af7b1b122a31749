"""contracts are wire types only: importing them starts nothing and registers nothing."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("nats", "structlog", "prometheus_client", "cr_client", "cr_runtime")

PROBE = f"""
import json, sys
import contracts, contracts.asyncapi, contracts.schemas, contracts.streams, contracts.rpc
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))))
"""


def test_importing_contracts_loads_no_runtime_library() -> None:
    """A fresh interpreter that imports every contracts module has none of HEAVY loaded."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The same probe run after importing the client does list nats (the check can fail)."""
    probe = PROBE.replace("import json, sys", "import json, sys\nimport cr_client")
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert "nats" in json.loads(out.stdout)
    assert "structlog" not in json.loads(out.stdout)
    assert "prometheus_client" not in json.loads(out.stdout)

"""Tiny real programs that stand in for the stack's children (a service, the simulator,
nats-server), so the supervision code runs on real processes, pipes and signals in a unit
test, without a server or a service. Each one is a few lines of Python."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfy_recovery import natsd

FAKE_NATS = "nats://127.0.0.1:1"
"""A NATS URL for stacks of fakes (the fake services never connect)."""

SERVICE = """\
import os, pathlib, signal, sys, time
here = pathlib.Path(os.environ["CR_FAKE_DIR"])
print("listening on", os.environ.get("CR_CRSVC_HEALTH_PORT"), flush=True)
if (here / "crash-once").exists():
    (here / "crash-once").unlink()
    sys.exit(3)
if (here / "stop-parent").exists():  # as Ctrl-C on `up` would
    (here / "stop-parent").unlink()
    os.kill(os.getppid(), signal.SIGTERM)
time.sleep(600)
"""
"""``python -m crsvc``: says its health port, exits 3 once if ``crash-once`` exists, sends
SIGTERM to its parent once if ``stop-parent`` exists, else waits to be ended."""

SIMULATOR = """\
import sys, time
for i in range(int(sys.argv[2])):
    print(f"backend sim-{i} http://127.0.0.1:9/{i}", flush=True)
time.sleep(600)
"""
"""``python -m crsim --backends N``: prints its N backend lines, then waits."""

NATS_SERVER = """\
import http.server, json, re, signal, socket, sys, threading
config = open(sys.argv[2]).read()
port, monitor = (
    int(re.search(key + r": 127.0.0.1:(\\d+)", config).group(1)) for key in ("listen", "http")
)
if "refuse" in config:
    sys.exit(1)

class Jsz(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(json.dumps({"meta_cluster": {"leader": "n1"}}).encode())

    def log_message(self, *args):
        pass

monitoring = http.server.ThreadingHTTPServer(("127.0.0.1", monitor), Jsz)
threading.Thread(target=monitoring.serve_forever, daemon=True).start()
clients = socket.create_server(("127.0.0.1", port))
print("Server is ready", flush=True)
signal.pause()
"""
"""``nats-server -c CONF``: listens on the config's client port, answers ``/jsz`` with meta
leader n1 on its monitoring port, prints the ready line; exits 1 at once when the config
holds ``refuse`` (a store path with that word)."""


def install(where: Path) -> Path:
    """Write the fakes into `where`; the path of the fake nats-server (an executable)."""
    (where / "crsvc.py").write_text(SERVICE)
    (where / "crsim.py").write_text(SIMULATOR)
    server = where / "nats-server"
    server.write_text(f"#!{sys.executable}\n{NATS_SERVER}")
    server.chmod(server.stat().st_mode | stat.S_IXUSR)
    return server


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The fakes in `tmp_path/bin`: importable by the children (PYTHONPATH, inherited) and
    by this process (the stack checks that the simulator imports), nats-server for `natsd`."""
    where = tmp_path / "bin"
    where.mkdir()
    server = install(where)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(where), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.setenv("CR_FAKE_DIR", str(where))
    monkeypatch.syspath_prepend(str(where))
    monkeypatch.setattr(natsd, "nats_server_binary", lambda: str(server))
    yield where

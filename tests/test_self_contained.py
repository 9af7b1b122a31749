"""The repository stands on its own: nothing tracked reads a folder outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A path that leaves the checkout: the reference folder beside it, or an absolute path into the
# workplace the project was developed in (examples of user paths in test data are not reads).
# (spelled in pieces, so that this file does not name them itself)
_WORKPLACE = "/" + "work" + "/"
_OUTSIDE = re.compile(r"\.\./shared\b|(?<![\w.])" + re.escape(_WORKPLACE))
_SKIP = (".lock", ".gz", ".png")


def _tracked() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in out.split("\0") if name and not name.endswith(_SKIP)]


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    offenders = []
    for path in _tracked():
        if not path.is_file():
            continue
        text = path.read_text("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if _OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not offenders, "\n".join(offenders)


def test_vendored_reference_data_is_in_the_repository() -> None:
    data = ROOT / "tools" / "comfysim" / "src" / "comfysim" / "data"
    assert (data / "object_info.v0.33.0.json.gz").stat().st_size > 100_000
    assert len(list((data / "payloads").glob("*.json"))) >= 40
    assert (ROOT / "services" / "classifier" / "corpus" / "errors.jsonl").is_file()
    assert (ROOT / "docs" / "TAXONOMY.md").is_file()


def test_the_product_never_imports_the_tests_package() -> None:
    sources = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    sources += ROOT.glob("tools/*/src/**/*.py")
    bad = [
        str(p.relative_to(ROOT))
        for p in sources
        if re.search(r"^\s*(?:from|import) tests\b|\"tests\.", p.read_text(), re.M)
    ]
    assert not bad, bad

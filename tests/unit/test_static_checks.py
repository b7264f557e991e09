"""The whole tree passes its static checks: ruff (Pyflakes and the 120-character line, settings in
pyproject.toml) and mypy over the installed `rehearse` package.

mypy cannot follow the editable install's mapping of top-level folders to subpackages (`sync/` is
`rehearse.sync`): it would resolve every `rehearse.*` import to `Any` and check nothing across
modules. So the mypy test builds the package as mypy expects it, a `rehearse/` folder whose
subpackages are symbolic links to the repository's folders, and checks that.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rehearse

REPOSITORY = Path(__file__).resolve().parents[2]
SUBPACKAGES = ("sync", "fakes", "sim", "reports", "contracts", "scenarios")


def _run(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *arguments], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    result = _run(["ruff", "check", "--output-format", "concise", "."], REPOSITORY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_the_package(tmp_path):
    package = tmp_path / "rehearse"
    package.mkdir()
    (package / "__init__.py").write_text(Path(rehearse.__file__).read_text())
    for name in SUBPACKAGES:
        (package / name).symlink_to(REPOSITORY / name, target_is_directory=True)
    result = _run(["mypy", "--config-file", str(REPOSITORY / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache"),
                   "-p", "rehearse"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

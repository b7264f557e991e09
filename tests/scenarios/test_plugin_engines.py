"""Engines from outside the project: the example engine runs from a file outside the package, and an
outside engine that cannot be loaded, raises, hangs or answers garbage ends the run with a clear
error naming it (exit 2 at load, 3 during the run) and no output folder."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from rehearse.sim.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minimal_engine.py"
TINY = ["--set", "traffic.subscriptions=20", "--set", "run.traffic_days=1", "--set", "run.drain_limit_days=1",
        "--quiet"]


def _run(args: list[str]):
    return CliRunner().invoke(main, ["run", "smoke", *args], catch_exceptions=False)


def test_the_example_engine_runs_smoke_from_a_file_outside_the_package(tmp_path):
    engine_file = tmp_path / "elsewhere" / "my_engine.py"
    engine_file.parent.mkdir()
    shutil.copy(EXAMPLE, engine_file)
    out = tmp_path / "out"
    result = _run(["--engine", f"{engine_file}:create", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pattern"] == f"{engine_file}:create"
    recon = metrics["reconciliation"]
    for name in ("invoices", "payments"):
        assert recon[name]["expected"] > 500 and recon[name]["matched"] == recon[name]["expected"]
    assert metrics["resilience"]["posted"] > 2000  # customers, invoices and payments


def _engine(tmp_path: Path, body: str) -> str:
    """An engine file: the example engine with `body` appended (it may override the factory)."""
    path = tmp_path / "engine.py"
    path.write_text(EXAMPLE.read_text() + "\n" + textwrap.dedent(body))
    return str(path)


@pytest.mark.parametrize(("spec", "says"), [
    ("no_such_package_xyz.engine:create", "cannot import 'no_such_package_xyz.engine'"),
    ("rehearse.sync.rules:no_such_factory", "has no attribute 'no_such_factory'"),
    ("rehearse.sync.rules:INVOICE_EVENT_TYPES", "not a callable factory"),
    ("missing/engine.py:create", "no such file missing/engine.py"),
    ("just-a-name", "is not 'package.module:factory'"),
])
def test_an_engine_that_cannot_be_loaded_exits_2_naming_the_spec(tmp_path, spec, says):
    out = tmp_path / "out"
    result = _run(["--engine", spec, "--out", str(out), *TINY])
    assert result.exit_code == 2, result.output
    assert spec in result.output and says in result.output
    assert not out.exists()


@pytest.mark.parametrize(("body", "says"), [
    ("raise RuntimeError('boom at import')\n", "boom at import"),
    ("import sys\nsys.exit(0)\n", "SystemExit"),  # it stopped the command, exit 0 and no output
])
def test_an_engine_file_that_fails_to_import_exits_2(tmp_path, body, says):
    spec = _engine(tmp_path, body) + ":create"
    result = _run(["--engine", spec, "--out", str(tmp_path / "out"), *TINY])
    assert result.exit_code == 2 and says in result.output and spec in result.output


BROKEN = {
    "factory raises": ("""
        def broken(ports):
            raise ValueError("no ERP credentials")
        """, "its factory raised ValueError: no ERP credentials"),
    "factory returns garbage": ("""
        def broken(ports):
            return 42
        """, "lacks up, start, receive"),
    "receive raises": ("""
        class Broken(MinimalEngine):
            def receive(self, event):
                raise KeyError(event.type)
        def broken(ports):
            return Broken(ports)
        """, "receive() raised KeyError"),
    "receive answers garbage": ("""
        class Broken(MinimalEngine):
            def receive(self, event):
                return "ok"
        def broken(ports):
            return Broken(ports)
        """, "receive() returned 'ok' (a str), expected a bool or an awaitable of one"),
    "unfinished answers garbage": ("""
        class Broken(MinimalEngine):
            def unfinished(self):
                return None
        def broken(ports):
            return Broken(ports)
        """, "unfinished() returned None (a NoneType), expected a list"),
    "idle answers garbage": ("""
        class Broken(MinimalEngine):
            def idle(self):
                return 0
        def broken(ports):
            return Broken(ports)
        """, "idle() returned 0 (a int), expected a bool"),
    "a workflow raises": ("""
        class Broken(MinimalEngine):
            def start(self):
                async def fail():
                    await self.runtime.sleep(60)
                    raise ZeroDivisionError("rate")
                self.runtime.spawn(fail())
        def broken(ports):
            return Broken(ports)
        """, "a workflow raised ZeroDivisionError: rate"),
    "a workflow never yields": ("""
        class Broken(MinimalEngine):
            def start(self):
                async def spin():
                    await self.runtime.sleep(60)
                    while True:
                        pass
                self.runtime.spawn(spin())
        def broken(ports):
            return Broken(ports)
        """, "stopped virtual time at 2026-02-01T00:01:00Z"),
    "a factory that never returns": ("""
        def broken(ports):
            while True:
                pass
        """, "stopped virtual time"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_an_engine_that_fails_during_the_run_exits_3_naming_it_and_writes_nothing(tmp_path, case):
    body, says = BROKEN[case]
    spec = _engine(tmp_path, body) + ":broken"
    out = tmp_path / "out"
    result = _run(["--engine", spec, "--out", str(out), "--stall-limit-s", "1", *TINY])
    assert result.exit_code == 3, result.output
    assert f"engine {spec!r}" in result.output.replace("\n", "") and says in result.output.replace("\n", "")
    assert not out.exists() and not list(tmp_path.glob(".out*"))

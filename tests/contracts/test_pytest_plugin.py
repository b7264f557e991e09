"""The pytest plugin, tested as pytest plugins are: `pytester` runs the README's example verbatim
(so README and plugin cannot drift apart), and the plugin's options, markers and failure reports."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import rehearse.contracts.event_schemas  # noqa: F401
import rehearse.contracts.rehearsal  # noqa: F401
import rehearse.reports.plots  # noqa: F401
import rehearse.sim.runner  # noqa: F401
import rehearse.sim.world  # noqa: F401

pytest_plugins = ["pytester"]
# The imports above are loaded before pytester's in-process runs, which restore sys.modules after
# each run: numpy, once unloaded that way, refuses to be imported again in the same process.

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_MARK = re.compile(r"<!-- pytest-plugin-example: (?P<name>[\w.]+) -->\s*```python\n(?P<code>.*?)```", re.S)
TINY = '["run.traffic_days=0.05", "traffic.subscriptions=40", "traffic.annual_share=0"]'


def readme_example() -> tuple[str, str]:
    """The file name and code of the plugin example in README.md."""
    match = EXAMPLE_MARK.search(README.read_text(encoding="utf-8"))
    assert match, "README.md has no <!-- pytest-plugin-example: NAME --> block"
    return match["name"], match["code"]


def test_the_readme_example_runs_as_written(pytester):
    name, code = readme_example()
    pytester.makepyfile(**{Path(name).stem: code})
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=code.count("\ndef test_"))


def test_the_entry_point_names_the_plugin_and_loading_it_imports_nothing_heavy():
    plugins = {point.name: point.value for point in entry_points(group="pytest11")}
    assert plugins["rehearse"] == "rehearse.contracts.pytest_plugin"
    probe = ("import sys, rehearse.contracts.pytest_plugin; "
             "print(sorted(m for m in ('polars', 'simpy', 'jsonschema', 'rehearse.sim', 'rehearse.fakes') "
             "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_a_failing_rehearsal_shows_how_to_replay_it(pytester):
    pytester.makepyfile(f"""
        def test_fails(rehearse_run):
            outcome = rehearse_run("smoke", set={TINY})
            assert outcome.metric("reconciliation.invoices.expected") < 0
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--rehearse-seed", "5")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Captured rehearse call*",
                                 "replay: rehearse run smoke --seed 5 --set 'run.traffic_days=0.05' *"])


def test_marker_seed_and_option_and_explicit_seed_in_that_order(pytester):
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.rehearse("smoke", set={TINY}, seed=9)
        def test_marker_wins_over_option(rehearse_world, rehearse_seed):
            assert rehearse_seed == 9 and rehearse_world.seed == 9

        def test_option_applies_without_marker(rehearse_seed, rehearse_scenario):
            assert rehearse_seed == 4 and rehearse_scenario.name == "smoke"

        def test_explicit_seed_wins(rehearse_run):
            assert rehearse_run(set={TINY}, seed=2).metrics["seed"] == 2
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--rehearse-seed", "4")
    result.assert_outcomes(passed=3)


def test_bad_markers_and_overrides_fail_with_a_reason(pytester):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.rehearse("smoke", sets=["run.traffic_days=1"])
        def test_misspelled(rehearse_world):
            pass

        @pytest.mark.rehearse("smoke", set=["erp.concurency_limit=3"])
        def test_unknown_key(rehearse_world):
            pass

        def test_unknown_scenario(rehearse_run):
            rehearse_run("no-such-scenario")
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2, failed=1)
    result.stdout.fnmatch_lines_random([
        "*@pytest.mark.rehearse: takes (scenario, *, set=, seed=, record_events=)*['sets']*",
        "*rehearse: *smoke.toml (--set erp.concurency_limit=3): erp.concurency_limit: unknown key*",
        "*RehearsalError: no-such-scenario: not a file and not a built-in scenario*",
    ])


def test_rehearse_out_keeps_each_runs_report(pytester, tmp_path):
    pytester.makepyfile(f"""
        def test_writes(rehearse_run):
            assert rehearse_run("smoke", set={TINY}).out_dir is not None
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--rehearse-out", str(tmp_path))
    result.assert_outcomes(passed=1)
    (folder,) = tmp_path.iterdir()
    assert folder.name.endswith("-1-smoke-seed1")
    assert sorted(path.name for path in folder.iterdir()) == ["metrics.json", "report.html", "trace.parquet"]

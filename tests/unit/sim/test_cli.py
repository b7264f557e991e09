"""The command line: exit 0 on pass, 1 on a failed gate, 2 on bad input (naming file and key),
and bad input leaves no output folder behind."""

import json

import pytest
from click.testing import CliRunner

from rehearse.sim import runner as sim_runner
from rehearse.sim.cli import main

FAST = ["--set", "traffic.subscriptions=80", "--set", "run.traffic_days=1", "--quiet"]


def test_scenarios_lists_the_builtins_one_line_each():
    result = CliRunner().invoke(main, ["scenarios"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(names) and {"month-end", "smoke", "bad-month-end"} <= set(names)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)  # every one has a description


def test_run_passes_and_writes_the_three_files(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "smoke", "--seed", "2", "--out", str(out), *FAST])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seed"] == 2 and metrics["passed"] is True
    assert "wall" in metrics and "PASSED" in result.output


def test_a_failing_gate_exits_1(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "smoke", "--out", str(out), *FAST,
                                       "--set", "gates.invoice_to_erp_p95_s_max=0.001"])
    assert result.exit_code == 1, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    failed = [gate["name"] for gate in metrics["gates"] if not gate["passed"]]
    assert failed == ["invoice_to_erp_p95_s_max"] and metrics["passed"] is False


def test_a_bad_scenario_file_exits_2_naming_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[[entities]]\nid="US01"\ncurrency="USD"\ncountries=["US"]\nshare=1.0\n'
                   '[[plans]]\nid="p"\ninterval="month"\nrank=0\nprices_minor={USD=100}\n'
                   '[traffic]\nsubscriptions="many"\nannual_share=0\n[erp]\nconcurency_limit=3\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert str(bad) in result.output
    assert "traffic.subscriptions" in result.output and "erp.concurency_limit: unknown key" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_bad_override_and_unknown_scenario_exit_2(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["run", "smoke", "--set", "faults.0.probability=1.5"])
    assert result.exit_code == 2 and "faults.0.webhook_duplicate.probability" in result.output
    result = runner.invoke(main, ["run", "smoke", "--set", "nonsense"])
    assert result.exit_code == 2 and "dotted.key=value" in result.output
    result = runner.invoke(main, ["run", "no-such-scenario"])
    assert result.exit_code == 2 and "smoke" in result.output


def test_a_run_that_could_never_end_is_refused_before_it_starts(tmp_path):
    """Infinity passed every `> 0` check and the run then never ended; so did a run in year 10000."""
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(main, ["run", "smoke", "--set", "run.traffic_days=inf", "--out", str(out)])
    assert result.exit_code == 2 and "run.traffic_days: Input should be a finite number" in result.output
    result = runner.invoke(main, ["run", "smoke", "--set", 'run.start="9999-12-31T00:00:00Z"', "--out", str(out)])
    assert result.exit_code == 2 and "the run would end after 9999-01-01T00:00:00Z" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    result = runner.invoke(main, ["run", "smoke", "--seed", "-1"])
    assert result.exit_code == 2


def test_live_refuses_an_outside_engine_however_it_is_named(tmp_path):
    """An outside engine runs in virtual time only; named in the scenario (or by --set) it used to
    slip past the --engine check and run live on the in-process clients."""
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(main, ["run", "smoke", "--live", "--engine", "examples/minimal_engine.py:create",
                                  "--out", str(out)])
    assert result.exit_code == 2 and "--live runs the built-in patterns" in result.output
    result = runner.invoke(main, ["run", "smoke", "--live", "--set",
                                  'engine.factory="examples/minimal_engine.py:create"', "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "engine.factory: an outside engine runs in virtual time" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_store_url_is_for_live_runs_with_a_postgresql_url(tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    simulated = runner.invoke(main, ["run", "smoke", "--out", str(out), "--store-url", "postgresql://h/db"])
    assert simulated.exit_code == 2 and "--store-url: a PostgreSQL Store is for live runs" in simulated.output
    wrong = runner.invoke(main, ["run", "smoke", "--live", "--out", str(out),
                                 "--store-url", "mysql://app:s3cret@h/db"])
    assert wrong.exit_code == 2 and "--store-url mysql://app@h/db: must start with postgresql://" in wrong.output
    assert "s3cret" not in wrong.output
    unset = runner.invoke(main, ["run", "smoke", "--out", str(out), "--set", 'engine.store="postgres"'])
    assert unset.exit_code == 2 and 'engine.store: "postgres" needs --store-url' in unset.output
    assert not out.exists()


def test_an_unreachable_store_url_exits_2_before_anything_is_written(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "smoke", "--live", "--quiet", "--out", str(out)],
                                env={"REHEARSE_STORE_URL": f"postgresql://app:s3cret@127.0.0.1:{port}/books"})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"--store-url: cannot connect to PostgreSQL at postgresql://app@127.0.0.1:{port}/books" in result.output
    assert "s3cret" not in result.output and not out.exists()


def test_an_out_folder_that_cannot_be_made_exits_2_before_the_run(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for command in (["run", "smoke", *FAST], ["sweep", "smoke", "--seeds", "1", "--workers", "1", *FAST],
                    ["compare", "smoke", "--seeds", "1", "--pattern", "p2p", "--workers", "1", *FAST]):
        out = blocker / "run"
        result = CliRunner().invoke(main, [*command, "--out", str(out)])
        assert result.exit_code == 2, (command, result.output)
        assert f"--out {out}: cannot write a folder in {blocker}" in result.output
        assert "Traceback" not in result.output and "rehearse run" not in result.output  # refused before it ran


@pytest.mark.parametrize(("command", "option", "blocked"), [
    (["contracts", "export"], "--out", "erp.json"),
    (["contracts", "schemas"], "--dir", "2026-07.json"),
])
def test_contracts_export_and_schemas_write_every_file_or_none(tmp_path, command, option, blocked):
    """A target that is a folder used to stop the writing half-way, the files before it written."""
    (tmp_path / blocked).mkdir()
    result = CliRunner().invoke(main, [*command, option, str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"Is a directory: {tmp_path / blocked}" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == [blocked]


def test_contracts_export_and_schemas_to_a_folder_that_cannot_be_made_exit_2(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["contracts", "export", "--out", str(blocker / "docs")])
    assert result.exit_code == 2, result.output
    assert f"--out {blocker / 'docs'}: cannot write there" in result.output
    result = CliRunner().invoke(main, ["contracts", "schemas", "--dir", str(blocker / "events")])
    assert result.exit_code == 2, result.output
    assert f"--dir {blocker / 'events'}: cannot write there" in result.output


def test_an_out_folder_holding_other_files_is_refused_and_left_as_it_was(tmp_path):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "notes.txt").write_text("mine")
    for command in (["run", "smoke", *FAST], ["sweep", "smoke", "--seeds", "1", "--workers", "1", *FAST],
                    ["compare", "smoke", "--seeds", "1", "--pattern", "p2p", "--workers", "1", *FAST]):
        result = CliRunner().invoke(main, [*command, "--out", str(project)])
        assert result.exit_code == 2, (command, result.output)
        assert f"--out {project}: holds notes.txt, src, not part of a rehearse result" in result.output
        assert "Traceback" not in result.output and "rehearse run" not in result.output  # refused before it ran
    assert sorted(path.name for path in project.iterdir()) == ["notes.txt", "src"]
    assert (project / "notes.txt").read_text() == "mine"


def test_the_current_folder_is_refused_as_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    for out in (".", "", str(tmp_path), str(tmp_path.parent)):
        result = CliRunner().invoke(main, ["run", "smoke", *FAST, "--out", out])
        assert result.exit_code == 2, (out, result.output)
        assert "is the current folder or holds it" in result.output
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_a_folder_with_an_earlier_result_is_replaced(tmp_path):
    out = tmp_path / "result"
    first = CliRunner().invoke(main, ["run", "smoke", *FAST, "--out", str(out)])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["run", "smoke", *FAST, "--seed", "2", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert sorted(path.name for path in out.iterdir()) == ["metrics.json", "report.html", "trace.parquet"]
    assert json.loads((out / "metrics.json").read_text())["seed"] == 2


def test_ctrl_c_exits_130_saying_nothing_was_written(tmp_path, monkeypatch):
    """An interrupted run is neither a pass (0) nor a failed gate (1): shells report Ctrl-C as 130."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim_runner, "run", interrupted)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "smoke", "--out", str(out)])
    assert result.exit_code == 130
    assert "interrupted: stopped before the end; no output folder was written or replaced" in result.output
    assert "Traceback" not in result.output and "Aborted" not in result.output
    assert not out.exists()


def test_ctrl_c_elsewhere_exits_130_without_claiming_about_outputs(monkeypatch):
    import rehearse.sim.cli as cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "builtin_names", interrupted)
    result = CliRunner().invoke(main, ["scenarios"])
    assert result.exit_code == 130
    assert "interrupted: stopped before the end" in result.output and "output folder" not in result.output


@pytest.mark.parametrize("args", [
    ["run", "smoke", "--stall-limit-s", "nan"],
    ["run", "smoke", "--live", "--speedup", "inf"],
    ["serve", "--duration-s", "nan"],
    ["serve", "--speedup", "-inf"],
])
def test_a_number_that_is_not_finite_is_refused_naming_the_option(tmp_path, args):
    """nan and inf pass a range check (they compare false to its bounds): a live run crashed on
    `--speedup nan`, and `serve --duration-s nan` stopped at once with exit 0."""
    result = CliRunner().invoke(main, [*args, "--quiet"] if args[0] == "run" else args)
    assert result.exit_code == 2, result.output
    assert args[-2] in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://[::1"])
def test_contracts_check_refuses_a_url_it_could_never_call(url):
    """A port out of range was reported as a failed check (exit 1); a bracket left open raised."""
    result = CliRunner().invoke(main, ["contracts", "check", "--system", "tax", "--url", url])
    assert result.exit_code == 2, result.output
    assert f"--url {url!r}: " in result.output and "Traceback" not in result.output


def test_contracts_schemas_check_calls_a_file_that_is_not_utf8_drift(tmp_path):
    """It raised UnicodeDecodeError: a traceback."""
    assert CliRunner().invoke(main, ["contracts", "schemas", "--dir", str(tmp_path)]).exit_code == 0
    (tmp_path / "2026-07.json").write_bytes(b"\xff\xfe not UTF-8")
    result = CliRunner().invoke(main, ["contracts", "schemas", "--check", "--dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert f"drift: {tmp_path / '2026-07.json'}: differs from the schema generated" in result.output
    assert "2026-01.json" not in result.output


@pytest.mark.parametrize("command", [["contracts", "schemas", "--check", "--dir"],
                                     ["contracts", "export", "--check", "--out"]])
def test_contracts_check_of_a_missing_folder_exits_2_naming_it(tmp_path, command):
    """schemas --check reported every file of a missing folder as drift (exit 1); export --check
    ignored --out and checked the checked-in documents."""
    missing = tmp_path / "no-such-folder"
    result = CliRunner().invoke(main, [*command, str(missing)])
    assert result.exit_code == 2, result.output
    assert f"{command[-1]} {missing}: no such folder" in result.output
    assert not missing.exists()


def test_contracts_export_check_compares_the_documents_in_out(tmp_path):
    assert CliRunner().invoke(main, ["contracts", "export", "--out", str(tmp_path)]).exit_code == 0
    result = CliRunner().invoke(main, ["contracts", "export", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (tmp_path / "erp.json").write_text("{}\n")
    (tmp_path / "tax.json").unlink()
    result = CliRunner().invoke(main, ["contracts", "export", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert f"{tmp_path / 'erp.json'}: differs from the code; run `rehearse contracts export --out {tmp_path}`" \
        in result.output
    assert f"{tmp_path / 'tax.json'}: missing" in result.output
    assert (tmp_path / "erp.json").read_text() == "{}\n"  # a check writes nothing


@pytest.mark.parametrize(("command", "option"), [(["contracts", "export"], "--out"),
                                                 (["contracts", "schemas"], "--dir")])
def test_contracts_export_and_schemas_refuse_an_empty_folder_name(tmp_path, monkeypatch, command, option):
    """`--out ""` wrote the documents into the current folder."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*command, option, ""])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}': an empty path" in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", [["engine", "--config", ""], ["contracts", "diff", "", "old.yaml"]])
def test_an_empty_file_name_is_called_empty(command):
    """`pathlib` reads "" as the current folder: these were refused as "a folder"."""
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    assert "an empty path; give a file." in result.output

"""Output folders: written whole or not at all, and only ever replacing an earlier result."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearse.sim.outputs import OutputFolderError, out_dir_problem, replace_problem, write_folder


def _result(folder) -> None:
    (folder / "metrics.json").write_text("{}")
    (folder / "trace.parquet").write_bytes(b"PAR1")


def test_a_new_folder_is_written_whole(tmp_path):
    out = tmp_path / "runs" / "one"
    write_folder(out, _result)
    assert sorted(path.name for path in out.iterdir()) == ["metrics.json", "trace.parquet"]
    assert sorted(path.name for path in out.parent.iterdir()) == ["one"]  # no staging folder left


def test_an_earlier_result_is_replaced_and_a_failed_write_changes_nothing(tmp_path):
    out = tmp_path / "one"
    write_folder(out, _result)
    (out / "report.html").write_text("old")

    def failing(folder):
        (folder / "metrics.json").write_text("half")
        raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError):
        write_folder(out, failing)
    assert (out / "report.html").read_text() == "old"
    write_folder(out, _result)
    assert sorted(path.name for path in out.iterdir()) == ["metrics.json", "trace.parquet"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["one"]


@pytest.mark.parametrize("other", ["notes.txt", ".git", "metrics"])
def test_a_folder_holding_anything_else_is_refused_untouched(tmp_path, other):
    out = tmp_path / "project"
    out.mkdir()
    _result(out)
    if other.startswith("."):
        (out / other).mkdir()
    else:
        (out / other).write_text("mine")
    with pytest.raises(OutputFolderError, match=f"holds {other}, not part of a rehearse result"):
        write_folder(out, _result)
    assert other in {path.name for path in out.iterdir()}
    problem = replace_problem(out)
    assert problem is not None and out_dir_problem(out) == problem


def test_a_folder_named_like_a_result_file_is_not_a_result(tmp_path):
    out = tmp_path / "project"
    (out / "metrics.json").mkdir(parents=True)
    assert "holds metrics.json" in replace_problem(out)


def test_more_than_three_other_entries_are_counted(tmp_path):
    for name in ("a", "b", "c", "d", "e"):
        (tmp_path / name).write_text("")
    assert "holds a, b, c and 2 more," in replace_problem(tmp_path)


def test_the_current_folder_and_its_parents_are_refused(tmp_path, monkeypatch):
    inner = tmp_path / "work"
    inner.mkdir()
    monkeypatch.chdir(inner)
    for out in (Path("."), Path(""), inner, tmp_path, Path("..")):
        assert "is the current folder or holds it" in replace_problem(out)
        with pytest.raises(OutputFolderError):
            write_folder(out, _result)
    assert replace_problem(Path("fresh")) is None and replace_problem(inner / "fresh") is None


def test_runner_run_refuses_a_foreign_out_dir_before_simulating(tmp_path, monkeypatch):
    from rehearse.sim import runner
    from rehearse.sim.scenario import load

    scenario, _ = load("smoke", ["traffic.subscriptions=10", "run.traffic_days=1"])
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    def must_not_run(*args, **kwargs):
        raise AssertionError("simulated before the folder was checked")

    monkeypatch.setattr(runner, "simulate", must_not_run)
    with pytest.raises(OutputFolderError, match="holds notes.txt"):
        runner.run(scenario, 1, out_dir=out)
    assert (out / "notes.txt").read_text() == "mine"


def test_a_folder_next_to_the_result_is_never_touched(tmp_path):
    out = tmp_path / "one"
    write_folder(out, _result)
    kept = tmp_path / ".one.previous"  # the name an earlier version used for the result it replaced
    kept.mkdir()
    (kept / "mine.txt").write_text("mine")
    write_folder(out, _result)
    assert (kept / "mine.txt").read_text() == "mine"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".one.previous", "one"]


@pytest.mark.parametrize("length", [237, 239, 300])
def test_a_name_too_long_for_the_folder_it_replaces_with_is_refused_up_front(tmp_path, length):
    """Names of 237 to 239 characters passed the check (a probe named `.NAME.probe.XXXXXXXX`) and
    then failed after the work, making `.NAME.previous.XXXXXXXX` to replace an earlier result; longer
    ones raised from `exists()`."""
    out = tmp_path / ("a" * length)
    problem = out_dir_problem(out)
    assert problem is not None and problem.startswith("the name is too long")
    assert not any(tmp_path.iterdir())


def test_the_longest_name_that_fits_replaces_an_earlier_result(tmp_path):
    out = tmp_path / ("a" * 236)
    assert out_dir_problem(out) is None
    write_folder(out, _result)
    assert out_dir_problem(out) is None
    write_folder(out, _result)
    assert sorted(path.name for path in out.iterdir()) == ["metrics.json", "trace.parquet"]

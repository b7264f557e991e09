"""Output folders written whole or not at all: a result is filled in a fresh sibling folder and
swapped into place, so the folder a user reads never holds a half-written result.

Swapping replaces the folder whole, so only a folder that holds nothing but an earlier result is
replaced: a folder with anything else in it (``--out .`` in a project, ``--out ~``) is refused,
and so is the current folder or one that holds it."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


# The files rehearse writes into an output folder (`rehearse run`: the first three; `rehearse
# compare` and `rehearse sweep`: a JSON and an HTML file each). A folder that holds nothing else is
# an earlier result, which a new one may replace.
RESULT_FILES = frozenset({"metrics.json", "report.html", "trace.parquet", "comparison.json", "comparison.html",
                          "sweep.json", "sweep.html"})


class OutputFolderError(ValueError):
    """A folder a result must not replace; the message says why."""


def _sibling_prefix(out_dir: Path, role: str = "") -> str:
    """The prefix of a folder `write_folder` makes beside ``out_dir`` (``tempfile.mkdtemp`` adds
    eight characters): ``.NAME.`` for the result being written, ``.NAME.previous.`` for the one it
    replaces. `out_dir_problem` probes with the longest, so a name that fits is never refused by
    the file system after the work is done."""
    return f".{out_dir.name}.{role}"


_LONGEST_ROLE = "previous."


def write_folder(out_dir: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a fresh sibling folder of ``out_dir``, then swap it into place (a previous
    result is replaced only once the new one is complete; if ``write`` raises, nothing changes).

    Raises `OutputFolderError`, before anything is written, when ``out_dir`` holds anything but an
    earlier result, or is the current folder or one that holds it (see `replace_problem`)."""
    refuse_unreplaceable(out_dir)
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=_sibling_prefix(out_dir), dir=out_dir.parent))
    try:
        write(staging)
        os.chmod(staging, 0o755)
        if out_dir.exists():
            # A fresh name of its own: a fixed one could be a folder somebody keeps there.
            previous = Path(tempfile.mkdtemp(prefix=_sibling_prefix(out_dir, _LONGEST_ROLE), dir=out_dir.parent))
            out_dir.rename(previous)  # onto the empty folder just made, which rename(2) allows
            staging.rename(out_dir)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def replace_problem(out_dir: Path) -> str | None:
    """Why a result must not replace ``out_dir`` (None when it may): it is the current folder or
    holds it, or it holds something that is not an earlier result (the first few are named)."""
    resolved = out_dir.resolve()
    here = Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        return ("is the current folder or holds it, and a result replaces its folder whole: "
                "give a folder for the result, such as runs/NAME")
    if not resolved.is_dir():
        return None
    others = sorted(entry.name for entry in resolved.iterdir() if entry.name not in RESULT_FILES or not entry.is_file())
    if not others:
        return None
    named = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    return (f"holds {named}, not part of a rehearse result, and a result replaces its folder whole: "
            "give a new or empty folder, or one that holds an earlier result")


def refuse_unreplaceable(out_dir: Path) -> None:
    """Raise `OutputFolderError` when a result must not replace ``out_dir`` (`replace_problem`);
    callers that run for long call it first, so they refuse before doing the work."""
    problem = replace_problem(out_dir)
    if problem:
        raise OutputFolderError(f"{out_dir}: {problem}")


def out_dir_problem(out_dir: Path) -> str | None:
    """Why a result could not be written to ``out_dir`` (None when it can), found before any work
    starts: `replace_problem`, then the way `write_folder` writes, by making the parent folder and
    in it a folder under the longest name `write_folder` gives one (`_sibling_prefix`)."""
    try:
        if out_dir.exists() and not out_dir.is_dir():
            return "exists and is not a folder"
        problem = replace_problem(out_dir)
        if problem:
            return problem
        parent = out_dir.resolve().parent
    except OSError as error:  # a name longer than the file system allows, a loop of links
        return _os_problem(out_dir, error, "cannot be used")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        Path(tempfile.mkdtemp(prefix=_sibling_prefix(out_dir, _LONGEST_ROLE), dir=parent)).rmdir()
    except OSError as error:
        return _os_problem(out_dir, error, f"cannot write a folder in {parent}")
    return None


def _os_problem(out_dir: Path, error: OSError, doing: str) -> str:
    if error.errno == errno.ENAMETOOLONG:
        longest = len(os.fsencode(_sibling_prefix(out_dir, _LONGEST_ROLE))) + 8  # what tempfile.mkdtemp adds
        return (f"the name is too long: a result is written beside it as .NAME.{_LONGEST_ROLE}XXXXXXXX, "
                f"{longest} bytes, more than the file system allows")
    return f"{doing}: {error.strerror or error}"

"""Output folders written whole or not at all: a result is filled in a fresh sibling folder and
swapped into place, so the folder a user reads never holds a half-written result."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_folder(out_dir: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a fresh sibling folder of ``out_dir``, then swap it into place (a previous
    result is replaced only once the new one is complete; if ``write`` raises, nothing changes)."""
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        write(staging)
        os.chmod(staging, 0o755)
        if out_dir.exists():
            previous = out_dir.with_name(f".{out_dir.name}.previous")
            shutil.rmtree(previous, ignore_errors=True)
            out_dir.rename(previous)
            staging.rename(out_dir)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def out_dir_problem(out_dir: Path) -> str | None:
    """Why a result could not be written to ``out_dir`` (None when it can), found before any work
    starts: the way `write_folder` writes, by making the parent folder and a folder inside it."""
    if out_dir.exists() and not out_dir.is_dir():
        return "exists and is not a folder"
    parent = out_dir.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.probe.", dir=parent)).rmdir()
    except OSError as error:
        return f"cannot write a folder in {parent}: {error.strerror or error}"
    return None

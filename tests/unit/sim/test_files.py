"""The check of a path given as a file to read (`sim/files.py`)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from rehearse.sim.files import file_problem


def test_a_regular_file_and_a_link_to_one_have_no_problem(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("")
    (tmp_path / "link.toml").symlink_to(tmp_path / "a.toml")
    assert file_problem(tmp_path / "a.toml") is None and file_problem(tmp_path / "link.toml") is None


def test_what_is_not_a_regular_file_is_named(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        assert file_problem(tmp_path / "sock") == "is a socket, not a file"
    assert file_problem(tmp_path / "pipe") == "is a FIFO (named pipe), not a file"
    assert file_problem(tmp_path) == "is a folder, not a file"
    assert file_problem("/dev/null") == "is a character device, not a file"
    assert file_problem(tmp_path / "absent") == "no such file"
    assert file_problem("") == "is empty: give a file"

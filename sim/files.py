"""The one check of a path given as a file to read (a scenario, an engine config, an OpenAPI
document): it must be a regular file. Reading a FIFO waits for a writer that may never come (the
command hung), and a device or a folder is never the document meant."""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["file_problem"]

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_problem(path: str | Path) -> str | None:
    """Why `path` cannot be read as a file (None when it is a regular file, through any links):
    an empty path, no such file, or something else than a file, named.

    Examples
    --------
    >>> file_problem("/dev/null")
    'is a character device, not a file'
    >>> file_problem("")
    'is empty: give a file'
    """
    if not str(path):
        return "is empty: give a file"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"is {kind}, not a file"

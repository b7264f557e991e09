"""Fixtures shared across test folders: a throwaway PostgreSQL server for the PostgreSQL Store.

`postgres_url` is ``$REHEARSE_TEST_POSTGRES_URL`` when set; otherwise a cluster made with
``initdb`` in a temporary folder and started with ``pg_ctl`` on 127.0.0.1 and a free port (one per
pytest-xdist worker, started only when a test asks for it, stopped at the end of the session). With
neither, the tests that need it are skipped, saying why: CI machines may not have PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

POSTGRES_URL_ENV = "REHEARSE_TEST_POSTGRES_URL"
SERVER_START_TIMEOUT_S = 60


def _postgres_binaries() -> tuple[str, str] | None:
    """initdb and pg_ctl from PATH, else from Debian's versioned folder (not on PATH by default)."""
    found = shutil.which("initdb"), shutil.which("pg_ctl")
    if all(found):
        return found
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        initdb, pg_ctl = Path(folder, "initdb"), Path(folder, "pg_ctl")
        if initdb.exists() and pg_ctl.exists():
            return str(initdb), str(pg_ctl)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        pytest.skip("PostgreSQL tests: running as root and `runuser` is missing to start the server as postgres")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("PostgreSQL tests: running as root and there is no `postgres` user to start the server as")
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_url():
    """A URL of a PostgreSQL server the tests may create schemas in."""
    if url := os.environ.get(POSTGRES_URL_ENV):
        yield url
        return
    binaries = _postgres_binaries()
    if binaries is None:
        pytest.skip(f"PostgreSQL tests need initdb and pg_ctl on PATH (Debian: apt-get install postgresql) "
                    f"or ${POSTGRES_URL_ENV}")
    initdb, pg_ctl = binaries
    _as_server_user([])  # skips now when, as root, there is no user to run the server as
    folder = Path(tempfile.mkdtemp(prefix="rehearse-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    port = _free_port()

    def run(command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(_as_server_user(command), capture_output=True, text=True, timeout=SERVER_START_TIMEOUT_S)

    made = run([initdb, "-D", str(data), "-U", "rehearse", "--auth=trust", "-E", "UTF8", "--no-sync"])
    if made.returncode:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed: {made.stderr}")
    # fsync off: a test server that loses its data on power loss is fine, and much faster.
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder} -c fsync=off"
    started = run([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start"])
    if started.returncode:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {started.stderr}{log}")
    try:
        yield f"postgresql://rehearse@127.0.0.1:{port}/postgres"
    finally:
        run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(folder, ignore_errors=True)

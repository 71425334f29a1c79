"""A throwaway PostgreSQL server for the suite (../shared/RECIPES.md §6).

One cluster per test session, initialised in a temporary directory and listening on a free
port of 127.0.0.1 only; each test that asks for ``postgres_url`` gets a database of its own
(``CREATE DATABASE`` takes ~50 ms, a cluster ~2 s). PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` user Debian's package creates. Where the server's
programs are missing (``make test`` installs Debian's ``postgresql``), the tests that need it
skip and say why.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# pg_ctl -w waits for the server this long; a busy 2-core machine can be slow to start it.
START_WAIT_SECONDS = 120


def _bindir() -> Path | None:
    """Where initdb and pg_ctl are: pg_config's answer, else Debian's versioned directory."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (found / "initdb").exists():
            return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """A running throwaway cluster: databases made on demand, restartable, stopped at the end."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir, self.root = bindir, root
        self.data = root / "data"
        self.port = _free_port()
        self._names = itertools.count(1)

    def _as_owner(self, *argv: str) -> list[str]:
        # As root, run the server's programs as `postgres`; as anyone else, as themselves.
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    def _pg_ctl(self, *args: str) -> None:
        # Not captured: the server inherits pg_ctl's stdout and stderr, so a pipe there would
        # never reach end-of-file and the call would not return. The server logs to its file.
        subprocess.run(
            self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.data), *args),
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        subprocess.run(
            self._as_owner(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"),
            check=True,
            capture_output=True,
        )
        self.resume()

    def pause(self) -> None:
        """Stop fast, keeping the data: every connection is cut, and none is taken until resume()."""
        self._pg_ctl("stop", "-m", "fast", "-w")

    def resume(self) -> None:
        self._pg_ctl("start", "-w", "-t", str(START_WAIT_SECONDS), "-l", str(self.root / "log"), "-o", self._options())

    def _options(self) -> str:
        # Enough connections for three nodes' pools and the tests' own clients.
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"

    def restart(self) -> None:
        """Restart fast: every connection is cut, as when the database fails over."""
        self._pg_ctl(
            "restart",
            "-m",
            "fast",
            "-w",
            "-t",
            str(START_WAIT_SECONDS),
            "-l",
            str(self.root / "log"),
            "-o",
            self._options(),
        )

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url(database), "-c", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t{next(self._names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)


def why_unavailable() -> str | None:
    if _bindir() is None:
        return "PostgreSQL's server programs are not installed (make test installs Debian's postgresql)"
    if shutil.which("psql") is None:
        return "psql is not installed (make test installs Debian's postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser, so PostgreSQL cannot be started as another user"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's throwaway PostgreSQL server (started on first use)."""
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    bindir = _bindir()
    assert bindir is not None
    with tempfile.TemporaryDirectory(prefix="alertflow-pg-") as root:
        server = PostgresServer(bindir, Path(root))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's server, for this test alone."""
    return postgres_server.create_database()

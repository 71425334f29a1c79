"""``alertflow bench --instructions N`` (issue 19): the server's instructions per publish and
per email delivered, counted by valgrind's callgrind. Short runs as a user would start them;
the figures are checked to be counts of the measured work alone, never their speed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import PostgresServer
from tests.process import cli, refused_in_one_line

COUNT = 60
needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
    reason="valgrind is not installed (make test installs Debian's valgrind)",
)


def counted(stdout: str, storage: str) -> dict[str, Any]:
    figures: dict[str, Any] = json.loads(stdout.splitlines()[-1])
    assert (figures["instructions_count"], figures["instructions_storage"]) == (COUNT, storage)
    # A publish or a delivery is a few hundred thousand instructions up to a couple of million.
    # A window that took in the server's start-up (~300 M) or the warm-up's 300 publishes would
    # give several million per item; one that counted nothing, zero.
    for name in ("instructions_per_publish_m", "instructions_per_email_m"):
        assert 0.1 < figures[name] < 3.0, figures
    assert f"instructions (valgrind callgrind), {COUNT} of each, {storage}" in stdout
    return figures


@needs_valgrind
def test_bench_instructions_counts_a_publish_and_a_delivery_each_in_a_window_of_its_own(tmp_path: Path) -> None:
    result = cli("bench", "--instructions", str(COUNT), "--smtp-connections", "4", "--json", cwd=tmp_path)
    counted(result.stdout, "sqlite")
    for label in ("per publish (workers paused)", "per email delivered to the sink"):
        assert label in result.stdout
    assert list(tmp_path.iterdir()) == [], "the servers' data and callgrind's files stay in a scratch dir"


@needs_valgrind
def test_bench_instructions_counts_a_node_on_postgresql_and_drops_its_publish_schema(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    args = ("--instructions", str(COUNT), "--smtp-connections", "4", "--storage-url", postgres_url, "--json")
    result = cli("bench", *args, cwd=tmp_path)
    counted(result.stdout, "postgresql")
    database = postgres_url.rsplit("/", 1)[1]
    schemas = postgres_server.psql("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'alertflow_bench%'", database)
    assert schemas == ""
    # The delivery's backlog was queued in the database given, and all of it was sent there.
    assert postgres_server.psql("SELECT status, COUNT(*) FROM deliveries GROUP BY status", database) == f"sent|{COUNT}"


def test_bench_instructions_without_valgrind_says_how_to_get_it_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    refused = cli("bench", "--instructions", "5", cwd=tmp_path, env={"PATH": str(empty)}, check=False)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "apt-get install valgrind" in refused.stderr, refused.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--instructions", "-1"), "--instructions"),
        (("--instructions", "5", "--smtp"), "--instructions sets up its own servers"),
        (("--instructions", "5", "--data-dir", "d"), "--instructions sets up its own servers"),
    ],
)
def test_bench_instructions_refuses_a_bad_combination_in_one_line_naming_the_flag(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    refused_in_one_line("bench", *args, cwd=tmp_path, says=says)

"""``alertflow bench --nodes N`` (issue 15): N embedded servers on one PostgreSQL database,
publishes spread over them. Small runs, as a user would start them; the report's shape and
every delivery are checked, never their speed. No server outlives the bench, whether it ends
or is interrupted."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import PostgresServer
from tests.process import ALERTFLOW, WAIT_SECONDS, cli, refused_in_one_line

REQUESTS = 200
SHORT = ("-n", str(REQUESTS), "-c", "4", "--seconds", "0.5", "--rate", "20", "--sustain-rate", "20", "--json")
GENERATORS = [
    "python",
    pytest.param("wrk", marks=pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")),
]
RUNS = ("publish_by_node", "sent_by_node", "sustained_by_node")


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has exited: only its entry is left)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("generator", GENERATORS)
def test_bench_on_two_nodes_spreads_publishes_over_both_and_delivers_every_one(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str, generator: str
) -> None:
    result = cli("bench", *SHORT, "--generator", generator, "--nodes", "2", "--storage-url", postgres_url, cwd=tmp_path)
    figures: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    urls = [node["url"] for node in figures["nodes"]]
    assert len(set(urls)) == 2
    for run in RUNS:  # every run's publishes went to both nodes
        assert set(figures[run]) == set(urls) and all(count > 0 for count in figures[run].values()), (run, figures)
    assert figures["publish_errors"] == 0
    assert figures["sent_missing"] == figures["sustained_missing"] == 0
    assert "accepted by node" in result.stdout
    database = postgres_url.rsplit("/", 1)[1]
    stored = int(postgres_server.psql("SELECT COUNT(*) FROM notifications", database))
    statuses = postgres_server.psql("SELECT status, COUNT(*) FROM deliveries GROUP BY status", database)
    assert statuses == f"sent|{stored}"  # every publish, warm-up included, was delivered
    measured = sum(sum(figures[run].values()) for run in RUNS)
    if generator == "python":  # its warm-up is a known count; wrk's is a second's worth
        assert stored == REQUESTS + measured
    else:
        assert stored > measured
    assert not any(running(node["pid"]) for node in figures["nodes"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--nodes", "2"), "--nodes above 1 needs --storage-url postgresql://"),
        (("--nodes", "2", "--storage-url", "sqlite:///x.db"), "--nodes above 1 needs --storage-url postgresql://"),
        (("--nodes", "0"), "--nodes"),
        (("--nodes", "2", "--storage-url", "postgresql://127.0.0.1:1/x", "--drain", "10"), "--nodes spreads"),
    ],
)
def test_bench_nodes_refuses_a_bad_combination_in_one_line_naming_the_flag(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    refused_in_one_line("bench", *args, cwd=tmp_path, says=says)


def test_interrupting_a_bench_on_two_nodes_stops_both_servers(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    bench = subprocess.Popen(
        [*ALERTFLOW, "bench", "-n", "10000000", "--generator", "python", "--nodes", "2", "--storage-url", postgres_url],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert bench.stdout is not None
    pids: list[int] = []
    for line in bench.stdout:  # the nodes are listed once both serve
        pids += [int(pid) for pid in re.findall(r"^  node \d +http://\S+ pid (\d+)$", line)]
        if len(pids) == 2:
            break
    assert len(pids) == 2 and all(running(pid) for pid in pids), bench.stderr.read()
    os.kill(bench.pid, signal.SIGINT)  # the bench alone, as a terminal would not spare the servers
    bench.communicate(timeout=WAIT_SECONDS)
    assert bench.returncode != 0
    assert not any(running(pid) for pid in pids)


def test_a_bench_on_two_nodes_that_fails_midway_stops_both_servers(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    bin_dir = tmp_path / "bin"  # a wrk that fails, found before any real one
    bin_dir.mkdir()
    (bin_dir / "wrk").write_text("#!/bin/sh\necho 'wrk: out of luck' >&2\nexit 1\n")
    (bin_dir / "wrk").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    failed = cli(
        "bench", "--generator", "wrk", "--nodes", "2", "--storage-url", postgres_url, cwd=tmp_path, env=env, check=False
    )
    assert failed.returncode == 1 and "wrk failed: wrk: out of luck" in failed.stderr, failed.stderr
    pids = [int(pid) for pid in re.findall(r"^  node \d +http://\S+ pid (\d+)$", failed.stdout, re.M)]
    assert len(pids) == 2
    assert not any(running(pid) for pid in pids)


def test_the_reference_of_a_postgresql_bench_writes_to_postgresql_in_a_schema_of_its_own_dropped_after(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    result = cli("bench", *SHORT, "--reference", "--storage-url", postgres_url, cwd=tmp_path)
    figures: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    assert figures["reference_storage"] == "postgresql" and figures["reference_per_s"] > 0
    assert "bare aiohttp + postgresql group commit" in result.stdout
    database = postgres_url.rsplit("/", 1)[1]
    schemas = "SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'alertflow_bench_reference'"
    assert postgres_server.psql(schemas, database) == "0"
    # AlertFlow's own tables hold the bench's one tenant: the reference's rows were elsewhere.
    assert postgres_server.psql("SELECT COUNT(*) FROM tenants", database) == "1"

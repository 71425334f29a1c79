"""The frozen executable as a user downloads it (``make dist test-dist``).

Skipped until ``make dist`` has built it: freezing takes about 40 s, which ``make test``
does not spend on every run; ``.ci/run`` builds and runs it after the suite.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import requests

from alertflow import __version__
from alertflow.providers import ENTRY_POINT_GROUP, ProviderRegistry
from alertflow.storage.migrations import available
from tests.process import WAIT_SECONDS, Server, assert_delivers_through_outbox, cli

ROOT = Path(__file__).resolve().parent.parent
EXECUTABLE = ROOT / "build" / "dist" / "alertflow"
COMMAND = (str(EXECUTABLE),)
# Distributions whose providers every build must carry; third-party ones are optional.
FIRST_PARTY = {"alertflow", "alertflow-providers"}

pytestmark = pytest.mark.skipif(
    not EXECUTABLE.exists(), reason="build/dist/alertflow not built: `make dist test-dist` tests it"
)


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (alertflow_providers == alertflow-providers)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def first_party_providers() -> dict[str, dict[str, Any]]:
    """How this source tree's registry describes each first-party provider."""
    dists = {ep.name: canonical(ep.dist.name) for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.dist}
    if (ROOT / "plugins" / "pyproject.toml").exists():
        # Otherwise the comparison below would pass without looking at a single plugin.
        assert "alertflow-providers" in dists.values(), "plugins/ is not installed here: make install"
    return {
        p["type"]: p for p in ProviderRegistry.from_entry_points().describe() if dists.get(p["type"]) in FIRST_PARTY
    }


def test_version(tmp_path: Path) -> None:
    assert cli("--version", cwd=tmp_path, command=COMMAND).stdout.strip() == f"alertflow {__version__}"


def test_every_first_party_plugin_is_inside(tmp_path: Path) -> None:
    listed = json.loads(cli("plugins", "list", "--json", cwd=tmp_path, command=COMMAND).stdout)
    frozen = {p["type"]: p for p in listed}
    expected = first_party_providers()
    missing = sorted(expected.keys() - frozen.keys())
    assert not missing, f"not in the frozen build (rebuild with `make dist`?): {missing}"
    assert {name: frozen[name] for name in expected} == expected


def test_init_writes_the_sample_config_and_applies_every_migration(tmp_path: Path) -> None:
    created = json.loads(cli("init", "--json", cwd=tmp_path, command=COMMAND).stdout)
    assert created["tenant_id"] and created["api_key"] and created["operator_invite_url"]
    # alertflow/sample.toml is a symlink in the source tree: the bundle must hold its content.
    assert (tmp_path / "alertflow.toml").read_text() == (ROOT / "alertflow.toml").read_text()
    conn = sqlite3.connect(tmp_path / "data" / "alertflow.db")
    try:
        version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    finally:
        conn.close()
    assert version == available()[-1][0]
    again = json.loads(cli("init", "--json", cwd=tmp_path, command=COMMAND).stdout)
    assert again == {"tenant_id": created["tenant_id"], "api_key": None, "operator_invite_url": None}


def test_the_bundle_holds_every_migration_web_asset_and_guide() -> None:
    # make dist installs PyInstaller's archive viewer beside PyInstaller.
    viewer = ROOT / "build" / "work" / "venv" / "bin" / "pyi-archive_viewer"
    if not viewer.exists():
        pytest.skip("build/work/venv is gone (make clean?): cannot list the executable")
    listing = subprocess.run(
        [viewer, "--list", "--brief", EXECUTABLE], capture_output=True, text=True, check=True
    ).stdout
    bundled = {line.strip() for line in listing.splitlines()}
    migrations = {f"alertflow/storage/migrations/{name}" for _version, name, _sql in available()}
    web = {f"alertflow/{p.relative_to(ROOT)}" for p in (ROOT / "web").rglob("*") if p.is_file()}
    guides = {f"alertflow/guides/{p.relative_to(ROOT / 'docs')}" for p in (ROOT / "docs").rglob("*.md")}
    assert sorted((migrations | web | guides) - bundled) == []


def test_serve_answers_healthz_and_delivers_through_the_outbox(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path, command=COMMAND)
    servers.append(server.start())
    health = requests.get(f"{server.url}/healthz", timeout=WAIT_SECONDS)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert_delivers_through_outbox(server)
    assert "(uvloop)" in server.logs()  # bundled: without it the server falls back to asyncio's loop


def test_bench_runs_the_executable_itself_as_its_embedded_server(tmp_path: Path) -> None:
    short = ["-n", "100", "-c", "5", "--rate", "50", "--sustain-rate", "50", "--seconds", "1"]
    result = cli("bench", *short, "--json", cwd=tmp_path, command=COMMAND)
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["publish_per_s"] > 0 and figures["sent_p50_ms"] >= 0


def test_the_frozen_server_serves_every_guide(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path, command=COMMAND)
    servers.append(server.start())
    for path in sorted((ROOT / "docs").rglob("*.md")):
        name = path.relative_to(ROOT / "docs").with_suffix("").as_posix()
        page = requests.get(f"{server.url}/docs/{name}", timeout=WAIT_SECONDS)
        assert page.status_code == 200, name


def test_the_frozen_server_runs_on_postgresql_and_delivers(
    tmp_path: Path, postgres_url: str, servers: list[Server]
) -> None:
    """psycopg's C implementation (and the libpq it carries) is loaded by name at run time:
    only a run against a real database shows the build bundled it."""
    server = Server(tmp_path, config=f'[storage]\nurl = "{postgres_url}"\n', command=COMMAND)
    servers.append(server.start())
    assert_delivers_through_outbox(server)

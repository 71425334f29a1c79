"""``alertflow storage copy --to postgresql://…``: a stopped SQLite install moves into an empty
PostgreSQL database, every table verified by its row count, and a node started on the copy
serves what the old install held."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.postgres import PostgresServer
from tests.process import Server, assert_delivers_through_outbox, cli


@pytest.fixture
def populated(tmp_path: Path, servers: list[Server]) -> Server:
    """A stopped SQLite install that sent a notification and holds a template, a user and a schedule."""
    server = Server(tmp_path / "old", '[server]\nsecret_key = "copy-test-secret"\n')
    servers.append(server.start())
    assert_delivers_through_outbox(server)
    template = {"key": "welcome", "channels": {"email": {"subject": "Hi {{name}}", "text": "Welcome"}}}
    assert server.request("POST", "/v1/templates", template).status_code == 201
    assert server.request("PUT", "/v1/users/u1", {"email": "u1@example.com", "name": "Ann"}).status_code == 200
    schedule = {
        "name": "weekly",
        "cron": "0 9 * * 1",
        "timezone": "UTC",
        "to": [{"user_id": "u1"}],
        "template": "welcome",
        "data": {"name": "x"},
    }
    assert server.request("POST", "/v1/schedules", schedule).status_code == 201
    server.stop()
    return server


def counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def test_a_stopped_install_moves_into_an_empty_postgresql_and_serves_from_it(
    populated: Server, postgres_url: str
) -> None:
    done = cli("storage", "copy", "--to", postgres_url, cwd=populated.workdir)
    before = counts(populated.workdir / "data" / "alertflow.db")
    printed = dict(line.split(": ") for line in done.stdout.splitlines() if line.endswith(" rows"))
    assert printed, done.stdout
    for table, line in printed.items():
        assert int(line.removesuffix(" rows")) == before[table], table
    assert int(printed["notifications"].split()[0]) == 1 and int(printed["template_versions"].split()[0]) == 1
    assert "counts verified" in done.stdout

    # The same config, now on PostgreSQL: what was there is served, and new rows follow.
    config = (populated.workdir / "alertflow.toml").read_text() + f'[storage]\nurl = "{postgres_url}"\n'
    (populated.workdir / "alertflow.toml").write_text(config)
    moved = populated.start()  # stopped by the fixture's list, where it already is
    assert moved.request("GET", "/v1/templates/welcome").status_code == 200
    assert moved.request("GET", "/v1/users/u1").json()["name"] == "Ann"
    assert len(moved.request("GET", "/v1/schedules").json()["items"]) == 1
    before_outbox = len(moved.request("GET", "/v1/outbox").json()["items"])
    resp = moved.request(
        "POST", "/v1/notifications/publish", {"to": {"user_id": "u1"}, "template": "welcome", "data": {"name": "Ann"}}
    )
    assert resp.status_code == 202, resp.text
    nid = resp.json()["notifications"][0]["id"]
    assert moved.wait_for(lambda: moved.request("GET", f"/v1/notifications/{nid}").json()["status"] == "sent")
    assert len(moved.request("GET", "/v1/outbox").json()["items"]) == before_outbox + 1, (
        "ids continue after the copied ones"
    )


def test_the_copy_refuses_a_database_that_holds_rows_and_copies_nothing(
    populated: Server, postgres_server: PostgresServer, postgres_url: str
) -> None:
    cli("storage", "copy", "--to", postgres_url, cwd=populated.workdir)
    again = cli("storage", "copy", "--to", postgres_url, cwd=populated.workdir, check=False)
    assert again.returncode == 1 and "not empty" in again.stderr, again.stderr
    name = postgres_url.rsplit("/", 1)[1]
    assert postgres_server.psql("SELECT COUNT(*) FROM notifications", name) == "1", "nothing copied twice"


def test_the_copy_refuses_while_the_server_runs(
    populated: Server, postgres_server: PostgresServer, postgres_url: str
) -> None:
    populated.start()
    refused = cli("storage", "copy", "--to", postgres_url, cwd=populated.workdir, check=False)
    assert refused.returncode == 1 and "stop it first" in refused.stderr, refused.stderr
    name = postgres_url.rsplit("/", 1)[1]
    assert postgres_server.psql("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'", name) == "0"


def test_the_copy_names_what_is_wrong_with_its_target(populated: Server, tmp_path: Path) -> None:
    wrong = cli("storage", "copy", "--to", "mysql://db/x", cwd=populated.workdir, check=False)
    assert wrong.returncode == 2 and "--to" in wrong.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = cli(
        "storage",
        "copy",
        "--to",
        "postgresql://127.0.0.1:1/x",
        "--data-dir",
        str(empty / "none"),
        cwd=empty,
        check=False,
    )
    assert missing.returncode == 1 and "no database" in missing.stderr
    unreachable = cli("storage", "copy", "--to", "postgresql://127.0.0.1:1/x", cwd=populated.workdir, check=False)
    assert unreachable.returncode == 1 and "cannot connect" in unreachable.stderr, unreachable.stderr

"""``alertflow backup`` beside a server under write load, and a restore from the copy."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from alertflow.storage import backup as storage_backup
from tests.conftest import WAIT_SECONDS
from tests.process import Server, cli

PUBLISH = "/v1/notifications/publish"
# Recipients per publish: the server writes a notification, its deliveries and jobs for each.
BATCH = 50
# Acknowledged before the backup starts: a ~12 MB database, three 4 MiB copy steps.
BEFORE_BACKUP = 15000
# Bounds the publisher if a test fails before stopping it.
MAX_PUBLISHES = 2000


class Publisher(threading.Thread):
    """Publishes batches of emails, one request after another, until stopped."""

    def __init__(self, server: Server) -> None:
        super().__init__(name="publisher", daemon=True)
        self.server = server
        self.stopping = threading.Event()
        # Ids in the order their publish was acknowledged (202), appended only after the 202.
        self.acked: list[str] = []
        self.acknowledged = threading.Event()  # set after each acknowledged publish
        self.failures: list[str] = []

    def run(self) -> None:
        body = {
            "to": [{"email": f"user{i}@example.com"} for i in range(BATCH)],
            "content": {"email": {"subject": "Disk alert", "text": "/var is 95% full"}},
        }
        for _ in range(MAX_PUBLISHES):
            if self.stopping.is_set():
                return
            resp = self.server.request("POST", PUBLISH, body)
            if resp.status_code != 202:
                self.failures.append(f"{resp.status_code} {resp.text}")
                return
            self.acked.extend(n["id"] for n in resp.json()["notifications"])
            self.acknowledged.set()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=WAIT_SECONDS)


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def listed_ids(server: Server) -> set[str]:
    """Every notification ``GET /v1/notifications`` lists, page by page."""
    ids: set[str] = set()
    params = {"limit": "500"}
    while True:
        page = server.request("GET", "/v1/notifications", params=params).json()
        ids.update(item["id"] for item in page["items"])
        if not page["next_cursor"]:
            return ids
        params["cursor"] = page["next_cursor"]


@dataclass
class Backup:
    server: Server
    file: Path
    acknowledged: list[str]  # before the backup started


@pytest.fixture(scope="module")
def backup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backup]:
    """A backup taken while the server was publishing; shared, since loading it takes seconds."""
    tmp_path = tmp_path_factory.mktemp("backup")
    server = Server(tmp_path / "live").start()
    try:
        publisher = Publisher(server)
        publisher.start()
        try:
            assert server.wait_for(lambda: len(publisher.acked) >= BEFORE_BACKUP or publisher.failures)
            acknowledged = list(publisher.acked)
            backup_file = tmp_path / "alertflow-backup.db"
            result = cli("backup", str(backup_file), cwd=server.workdir)
            published_during = len(publisher.acked) - len(acknowledged)
        finally:
            publisher.stop()
        assert not publisher.failures, publisher.failures
        assert published_during > 0, "nothing was published during the backup: it proves nothing"
        assert f"to {backup_file}: " in result.stdout and "MiB" in result.stdout
        yield Backup(server, backup_file, acknowledged)
    finally:
        server.stop()


def test_a_backup_under_load_holds_everything_acknowledged_before_it(backup: Backup) -> None:
    assert rows(backup.file, "PRAGMA integrity_check") == [("ok",)]
    in_backup = {row[0] for row in rows(backup.file, "SELECT id FROM notifications")}
    missing = set(backup.acknowledged) - in_backup
    assert not missing, f"{len(missing)} acknowledged notifications are not in the backup"
    # One snapshot: no notification in the copy lacks the deliveries written with it.
    torn = "SELECT id FROM notifications n WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id)"
    assert rows(backup.file, torn) == []


def test_a_stepped_copy_never_restarts_while_the_server_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backup: Backup
) -> None:
    # Hundreds of small steps, each giving the server's commits a chance to land in between.
    monkeypatch.setattr(storage_backup, "STEP_PAGES", 8)
    copied: list[int] = []

    def progress(done: int, total: int) -> None:
        # SQLite starts a copy over, from page one, when the source changes under it.
        if copied and done < copied[-1]:
            raise AssertionError(f"the copy restarted after {len(copied)} steps")
        copied.append(done)
        if len(copied) == 10:  # make sure the server commits between two steps
            publisher.acknowledged.clear()
            assert publisher.acknowledged.wait(WAIT_SECONDS), "the server committed nothing"

    publisher = Publisher(backup.server)
    publisher.start()
    try:
        assert backup.server.wait_for(lambda: publisher.acked or publisher.failures)
        database = backup.server.workdir / "data" / "alertflow.db"
        storage_backup.backup(database, tmp_path / "stepped.db", progress)
    finally:
        publisher.stop()
    assert not publisher.failures, publisher.failures
    assert len(copied) > 100


def test_a_backup_never_overwrites_a_file(backup: Backup) -> None:
    before = backup.file.read_bytes()
    result = cli("backup", str(backup.file), cwd=backup.server.workdir, check=False)
    assert result.returncode == 1 and "exists" in result.stderr
    assert backup.file.read_bytes() == before
    assert list(backup.file.parent.glob(".*.partial")) == []


def test_restore_into_a_fresh_data_dir_serves_the_history(
    tmp_path: Path, servers: list[Server], backup: Backup
) -> None:
    # The restore the README describes: the copy becomes alertflow.db beside the secret key.
    data = tmp_path / "restored" / "data"
    data.mkdir(parents=True)
    shutil.copyfile(backup.file, data / "alertflow.db")
    shutil.copy2(backup.server.workdir / "data" / "secret_key", data / "secret_key")
    restored = Server(tmp_path / "restored")  # its `init` finds tenant "default" and adds nothing
    assert restored.api_key is None
    restored.api_key = backup.server.api_key
    servers.append(restored.start())
    in_backup = {row[0] for row in rows(backup.file, "SELECT id FROM notifications")}
    listed = listed_ids(restored)
    assert set(backup.acknowledged) <= listed
    assert listed == in_backup


def test_a_file_that_is_not_a_database_fails_the_backup_and_leaves_no_copy(tmp_path: Path) -> None:
    source = tmp_path / "alertflow.db"
    source.write_bytes(b"not a database " * 1000)
    with pytest.raises(storage_backup.BackupFailed, match="not a database"):
        storage_backup.backup(source, tmp_path / "copy.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alertflow.db"]


def test_the_backup_command_reports_a_database_it_cannot_copy_in_one_line(tmp_path: Path) -> None:
    cli("init", "--json", cwd=tmp_path)
    (tmp_path / "data" / "alertflow.db").write_bytes(b"not a database " * 1000)
    result = cli("backup", str(tmp_path / "copy.db"), cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("alertflow: backup failed: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "copy.db").exists()

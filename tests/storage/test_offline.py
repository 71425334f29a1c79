"""A command's own session (storage/offline.py): it creates and migrates the database, a
write commits all of its changes or none, and it works beside the server's writer."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertflow.storage import offline, tenant_rows
from alertflow.storage.database import SQLiteDatabase, Tx


class Refused(Exception):
    pass


def test_a_session_creates_the_database_and_its_writes_are_read_back(tmp_path: Path) -> None:
    path = tmp_path / "new" / "data" / "alertflow.db"
    with offline.session(path) as session:
        session.write(lambda tx: tenant_rows.add_tenant(tx, "ten_1", "acme", 1.0))
        assert session.read(lambda tx: tenant_rows.tenant_id_of(tx, "acme")) == "ten_1"
    with offline.session(path) as session:
        assert session.read(lambda tx: tenant_rows.tenant_exists(tx, "ten_1"))


def test_a_write_that_fails_keeps_none_of_its_changes(tmp_path: Path) -> None:
    def add_then_fail(tx: Tx) -> None:
        tenant_rows.add_tenant(tx, "ten_1", "acme", 1.0)
        raise Refused

    with offline.session(tmp_path / "alertflow.db") as session:
        with pytest.raises(Refused):
            session.write(add_then_fail)
        assert not session.read(lambda tx: tenant_rows.name_taken(tx, "acme"))
        session.write(lambda tx: tenant_rows.add_tenant(tx, "ten_1", "acme", 1.0))  # no transaction left open
        assert session.read(lambda tx: tenant_rows.name_taken(tx, "acme"))


async def test_a_session_writes_beside_a_running_servers_writer(tmp_path: Path) -> None:
    path = tmp_path / "alertflow.db"
    server = SQLiteDatabase(path)
    await server.open()
    try:
        with offline.session(path) as session:
            session.write(lambda tx: tenant_rows.add_tenant(tx, "ten_1", "acme", 1.0))
        assert await server.write(lambda tx: tenant_rows.tenant_exists(tx, "ten_1"))
    finally:
        await server.close()

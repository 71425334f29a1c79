"""Storage on a real SQLite file: grouped commits, isolation between writers, migrations."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import sqlite3
import threading
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from alertflow.storage import jobs as stored_jobs
from alertflow.storage import migrations
from alertflow.storage.database import SQLiteDatabase, connect
from alertflow.storage.notifications import insert_rows


@pytest.fixture
async def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = SQLiteDatabase(tmp_path / "t.db")
    await database.open()
    yield database
    await database.close()


@pytest.mark.parametrize("cut_at", [1, 2, 3, 4])
async def test_an_open_cut_short_leaves_no_thread_running_once_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut_at: int
) -> None:
    """A SIGTERM during start-up cancels the open between the readers' statements; a reader
    thread left behind is not a daemon and kept the process from exiting."""
    real_execute, calls = aiosqlite.Connection.execute, []
    real_connect, made = aiosqlite.connect, []

    def connect(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
        made.append(real_connect(*args, **kwargs))  # held, as the server's cancelled start-up held them
        return made[-1]

    def execute(self: aiosqlite.Connection, *args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        if len(calls) == cut_at:
            raise asyncio.CancelledError
        return real_execute(self, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "execute", execute)
    monkeypatch.setattr(aiosqlite, "connect", connect)
    before = set(threading.enumerate())
    database = SQLiteDatabase(tmp_path / "t.db")
    with pytest.raises(asyncio.CancelledError):
        await database.open()
    await database.close()
    # asyncio's executor keeps idle workers; they do not hold the process at exit
    left = [t for t in set(threading.enumerate()) - before if t.is_alive() and not t.name.startswith("asyncio_")]
    for reader in made:  # so that a failure here fails, rather than hanging the test run at exit
        reader.stop()
    assert left == [], f"still running after the statement {calls[-1]!r} was cut short: {left}"


async def test_concurrent_writes_share_commits(db: SQLiteDatabase) -> None:
    before = db.commits
    await asyncio.gather(
        *(
            db.write(lambda c, i=i: c.execute("INSERT INTO tenants VALUES (?, ?, 0)", (f"t{i}", f"n{i}")))
            for i in range(200)
        )
    )
    assert (await db.fetchone("SELECT COUNT(*) AS n FROM tenants"))["n"] == 200  # type: ignore[index]
    assert db.commits - before < 200, "every write got its own commit"


async def test_none_bools_and_bytes_are_stored_as_null_integers_and_blobs(db: SQLiteDatabase) -> None:
    """They bind through adapters (database.py says why); the stored values are those bound."""
    await db.write(lambda c: c.execute("CREATE TABLE kinds (a, b, c, d)"))
    await db.write(lambda c: c.execute("INSERT INTO kinds VALUES (?, ?, ?, ?)", (None, True, False, b"\x00\xff")))
    row = await db.fetchone("SELECT a, b, c, d, typeof(a) || typeof(b) || typeof(c) || typeof(d) AS t FROM kinds")
    assert row is not None
    assert (row["a"], row["b"], row["c"], row["d"]) == (None, 1, 0, b"\x00\xff")
    assert row["t"] == "nullintegerintegerblob"


async def test_a_failing_write_undoes_only_itself(db: SQLiteDatabase) -> None:
    def good(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO tenants VALUES ('a', 'a', 0)")

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO tenants VALUES ('b', 'b', 0)")
        conn.execute("INSERT INTO tenants VALUES ('a2', 'a', 0)")  # name is unique: fails

    results = await asyncio.gather(db.write(good), db.write(bad), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], sqlite3.IntegrityError)
    names = [r["id"] for r in await db.fetchall("SELECT id FROM tenants ORDER BY id")]
    assert names == ["a"], "the failed write's first insert must be rolled back with it"


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (stored_jobs.TURNS_SQL, ("email", "t1")),
        (stored_jobs.NEXT_TENANT_SQL, ("email", 2, "t1")),
        (stored_jobs.TENANT_JOBS_SQL, ("email", 2, "t1", 100, 0)),
    ],
)
async def test_the_claim_uses_its_index_without_sorting(
    db: SQLiteDatabase, sql: str, params: tuple[object, ...]
) -> None:
    plan = await db.fetchall("EXPLAIN QUERY PLAN " + sql, params)
    text = " ".join(r["detail"] for r in plan)
    assert "jobs_claim" in text and "TEMP B-TREE" not in text, text


def reprepares(path: Path, sql: str, bindings: list[tuple[int | str, ...]]) -> int:
    """How often SQLite compiled ``sql`` anew while running it once with each of ``bindings``,
    through the C API (sqlite3_stmt_status): Python's sqlite3 module does not tell."""
    lib = ctypes.CDLL(ctypes.util.find_library("sqlite3"))
    lib.sqlite3_bind_text.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
    lib.sqlite3_bind_int64.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
    for name in ("sqlite3_step", "sqlite3_reset", "sqlite3_finalize", "sqlite3_close"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    lib.sqlite3_stmt_status.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    conn, stmt = ctypes.c_void_p(), ctypes.c_void_p()
    assert lib.sqlite3_open_v2(str(path).encode(), ctypes.byref(conn), 1, None) == 0  # read only
    try:
        assert lib.sqlite3_prepare_v2(conn, sql.encode(), -1, ctypes.byref(stmt), None) == 0
        for values in bindings:
            for i, value in enumerate(values, start=1):
                if isinstance(value, str):
                    lib.sqlite3_bind_text(stmt, i, value.encode(), -1, ctypes.c_void_p(-1))  # copied
                else:
                    lib.sqlite3_bind_int64(stmt, i, value)
            while lib.sqlite3_step(stmt) == 100:  # SQLITE_ROW
                pass
            lib.sqlite3_reset(stmt)
        return int(lib.sqlite3_stmt_status(stmt, 5, 0))  # SQLITE_STMTSTATUS_REPREPARE
    finally:
        lib.sqlite3_finalize(stmt)
        lib.sqlite3_close(conn)


@pytest.mark.parametrize(
    ("sql", "bindings"),
    [
        (stored_jobs.TURNS_SQL, [("email", "t1"), ("email", "t2")]),
        (stored_jobs.NEXT_TENANT_SQL, [("email", 2, "t1"), ("sms", 1, "t2")]),
        (stored_jobs.TENANT_JOBS_SQL, [("email", 2, "t1", 100, 0), ("email", 1, "t2", 50, 10)]),
    ],
)
async def test_the_claims_statements_are_compiled_once_however_they_are_bound(
    db: SQLiteDatabase, tmp_path: Path, sql: str, bindings: list[tuple[int | str, ...]]
) -> None:
    """A parameter compared where a partial index has a constant (jobs_due: state = 2) makes
    SQLite compile the statement again at every binding; the claim runs each a cycle."""
    assert reprepares(tmp_path / "t.db", sql, bindings) == 0


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (stored_jobs.DUE_SQL, "jobs_due"),
        ("SELECT id FROM jobs WHERE " + stored_jobs.EXPIRED_LEASES_WHERE, "jobs_lease_end"),
    ],
)
async def test_the_timer_finds_due_jobs_on_indexes_that_leave_ready_jobs_out(
    db: SQLiteDatabase, sql: str, index: str
) -> None:
    plan = await db.fetchall("EXPLAIN QUERY PLAN " + sql, (0,)[: sql.count("?")])
    text = " ".join(r["detail"] for r in plan)
    assert index in text and "SCAN jobs" not in text, text


def test_an_older_database_is_upgraded(tmp_path: Path) -> None:
    conn = connect(tmp_path / "old.db")
    first = migrations.available()[0]
    conn.executescript(first[2])
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (?)", (first[0],))
    conn.execute("INSERT INTO tenants VALUES ('t1', 'kept', 0)")
    assert migrations.upgrade(conn) == migrations.available()[-1][0]
    assert conn.execute("SELECT name FROM tenants").fetchone()[0] == "kept"
    assert migrations.upgrade(conn) == migrations.available()[-1][0]  # idempotent


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    conn = connect(tmp_path / "new.db")
    migrations.upgrade(conn)
    conn.execute("INSERT INTO schema_version VALUES (9999)")
    with pytest.raises(migrations.SchemaTooNew, match="9999"):
        migrations.upgrade(conn)


async def test_the_server_refuses_a_newer_database(tmp_path: Path) -> None:
    conn = connect(tmp_path / "new.db")
    migrations.upgrade(conn)
    conn.execute("INSERT INTO schema_version VALUES (9999)")
    conn.close()
    with pytest.raises(migrations.SchemaTooNew):
        await SQLiteDatabase(tmp_path / "new.db").open()


def test_a_migration_numbered_below_one_already_applied_still_runs(tmp_path: Path) -> None:
    conn = connect(tmp_path / "merged.db")
    migrations.upgrade(conn)
    # As if 0007 had arrived later, through a merge, after 0008 was applied.
    late = next(m for m in migrations.available() if m[1] == "0007_analytics.sql")
    conn.execute("DELETE FROM schema_version WHERE version = ?", (late[0],))
    conn.execute("DROP INDEX deliveries_tenant_time")
    migrations.upgrade(conn)
    assert late[0] in migrations.applied(conn)
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'deliveries_tenant_time'").fetchone()


async def test_rows_inserted_together_keep_each_values_type(db: SQLiteDatabase) -> None:
    """insert_rows binds a column shared by every row once; 1, 1.0 and True are equal in
    Python but SQLite stores them as different types."""
    await db.write(lambda c: c.execute("CREATE TABLE mixed (k TEXT, v)"))
    await db.write(lambda c: insert_rows(c, "mixed (k, v)", [("a", 1), ("b", 1.0), ("c", True)]))
    await db.write(lambda c: insert_rows(c, "mixed (k, v)", [("d", 2.5), ("e", 2.5)]))
    rows = await db.fetchall("SELECT k, typeof(v) AS t, v FROM mixed ORDER BY k")
    assert [(r["k"], r["t"], r["v"]) for r in rows] == [
        ("a", "integer", 1),
        ("b", "real", 1.0),
        ("c", "integer", 1),
        ("d", "real", 2.5),
        ("e", "real", 2.5),
    ]

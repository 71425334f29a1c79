"""The PostgreSQL backend's own parts on a real server: its migrations (the same versions as
SQLite's, applied once however many nodes start), the claim's plan, placeholders and rows.
What every backend must do alike is tests/storage/'s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg.errors
import pytest

from alertflow.config import ConfigError, StorageConfig
from alertflow.delivery import queue
from alertflow.storage import jobs as stored_jobs
from alertflow.storage import migrations, tenant_rows, topic_members
from alertflow.storage.database import StorageFull, StorageUnavailable
from alertflow.storage.notifications import JOBS, insert_rows
from alertflow.storage.pg_dialect import translate
from alertflow.storage.postgres import PostgresDatabase, PostgresTx, _classify
from tests.conftest import WAIT_SECONDS
from tests.postgres import PostgresServer
from tests.process import free_port
from tests.storage.test_jobs import claim, publish

# A queue deep enough that the planner weighs the index against a scan and a sort: each
# (channel, priority, tenant) holds far more jobs than one claim takes.
QUEUED_JOBS, TENANTS = 36_000, 4


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    db = PostgresDatabase(postgres_url)
    await db.open()
    yield db
    await db.close()


def shipped(folder: str) -> list[str]:
    root = resources.files("alertflow.storage").joinpath(folder)
    return sorted(e.name for e in root.iterdir() if e.name.endswith(".sql"))


def test_every_migration_has_its_postgresql_twin_of_the_same_name() -> None:
    sqlite, postgresql = shipped("migrations"), shipped("migrations/postgresql")
    assert sqlite and sqlite == postgresql
    assert [v for v, _, _ in migrations.available()] == [v for v, _, _ in migrations.available("postgresql")]


async def test_two_nodes_opening_a_fresh_database_at_once_apply_each_migration_once(postgres_url: str) -> None:
    nodes = [PostgresDatabase(postgres_url), PostgresDatabase(postgres_url)]
    await asyncio.gather(*(n.open() for n in nodes))
    try:
        rows = await nodes[0].fetchall("SELECT version, COUNT(*) AS n FROM schema_version GROUP BY version")
        assert {r["version"]: r["n"] for r in rows} == {v: 1 for v, _, _ in migrations.available("postgresql")}
    finally:
        await asyncio.gather(*(n.close() for n in nodes))


async def test_a_database_from_a_newer_alertflow_is_refused(postgres_url: str) -> None:
    db = PostgresDatabase(postgres_url)
    await db.open()
    await db.write(lambda tx: tx.execute("INSERT INTO schema_version VALUES (9999)"))
    await db.close()
    with pytest.raises(migrations.SchemaTooNew, match="9999"):
        await PostgresDatabase(postgres_url).open()


async def test_the_claim_seeks_the_claim_index_without_sorting(pg: PostgresDatabase) -> None:
    rows = [
        (f"dlv_{i}", f"ten_{i // 9 % TENANTS:02}", ("email", "sms", "push")[i % 3], i // 3 % 3, queue.READY, float(i))
        for i in range(QUEUED_JOBS)
    ]
    await pg.write(lambda tx: insert_rows(tx, JOBS, rows))
    await pg.write(lambda tx: tx.execute("ANALYZE jobs"))

    async def explain(sql: str, params: tuple[Any, ...]) -> str:
        found = await pg.write(lambda tx: tx.execute("EXPLAIN " + sql, params).fetchall())
        return "\n".join(r[0] for r in found)

    claim = await explain(stored_jobs.TENANT_JOBS_SQL_PG, ("email", 0, "ten_03", queue.CLAIM_BATCH, 0))
    print(claim)  # the report quotes it
    assert "LockRows" in claim and "Index Scan using jobs_claim on jobs" in claim and "Sort" not in claim, claim
    tenants = await explain(stored_jobs.NEXT_TENANT_SQL, ("email", 0, "ten_03"))
    assert "jobs_claim" in tenants and "Sort" not in tenants, tenants
    turns = await explain(stored_jobs.TURNS_SQL, ("email", "ten_03"))
    assert "jobs_claim" in turns and "Sort" not in turns and "Seq Scan on jobs" not in turns, turns


async def test_statements_are_planned_as_they_run_never_from_a_plan_made_when_the_tables_were_small(
    pg: PostgresDatabase,
) -> None:
    """A generic plan cached while a new database's tables held a few rows kept sequential
    scans as they grew (see PLAN_EVERY_TIME); every plan is made for the statement's run."""
    await pg.write(lambda tx: tenant_rows.add_tenant(tx, "t1", "t1", 0.0))
    for _ in range(12):  # psycopg prepares at the fifth run; PostgreSQL weighs a generic plan after five more
        await publish(pg, count=2)
        assert len(await claim(pg)) == 2
    [(statements, generic, custom)] = await pg.write(
        lambda tx: tx.execute(
            "SELECT COUNT(*), COALESCE(SUM(generic_plans), 0), COALESCE(SUM(custom_plans), 0)"
            " FROM pg_prepared_statements WHERE cardinality(parameter_types) > 0"  # without: generic only
        ).fetchall()
    )
    assert statements > 0 and custom > 0  # the writer's statements were prepared and run
    assert generic == 0
    for _ in range(4):  # the readers, whichever the pool hands out
        [row] = await pg.fetchall("SELECT current_setting('plan_cache_mode') AS mode")
        assert row["mode"] == "force_custom_plan"


async def test_a_claim_skips_the_jobs_another_nodes_claim_holds_without_waiting(pg: PostgresDatabase) -> None:
    await pg.write(lambda tx: tenant_rows.add_tenant(tx, "t1", "t1", 0.0))
    published = await publish(pg, count=6)
    other = await asyncio.to_thread(pg.connect)  # another node, its claim not yet committed
    try:
        other.execute("BEGIN")
        args = ("email", queue.PRIORITIES["medium"], "t1", 2, 0)
        held = [r[0] for r in PostgresTx(other).execute(stored_jobs.TENANT_JOBS_SQL_PG, args)]
        assert len(held) == 2
        mine = await claim(pg)
        assert [j.delivery_id for j in mine] == published[2:]  # the rest, oldest first
        assert not {j.job_id for j in mine} & set(held)
    finally:
        other.execute("ROLLBACK")  # its claim never commits: the two jobs are ready again
        other.close()
    assert [j.delivery_id for j in await claim(pg)] == published[:2]


async def test_ids_page_in_bytewise_order_on_a_database_whose_locale_sorts_otherwise(
    postgres_server: PostgresServer,
) -> None:
    """A topic's members are paged by ``user_id > cursor`` and each page sorted in Python: on a
    database created with an ICU locale ("a" < "B" < "_c" there, bytewise "B" < "_c" < "a")
    the pages still cover every member once, as the schema's columns compare bytewise."""
    postgres_server.psql(
        "CREATE DATABASE icu TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
    )
    db = PostgresDatabase(postgres_server.url("icu"))
    await db.open()
    try:
        await db.write(lambda tx: tenant_rows.add_tenant(tx, "t1", "t1", 0.0))
        members = ["a", "B", "_c", "D", "e"]
        await db.write(lambda tx: topic_members.add(tx, "t1", "news", members))
        paged, after = [], ""
        for _ in members:  # one member a page: never more pages than members
            page, _users = await topic_members.page(db, "t1", "news", after, 1)
            if not page:
                break
            paged += page
            after = page[-1]
        assert paged == sorted(members)
    finally:
        await db.close()


async def test_a_notify_committed_by_the_writer_reaches_a_listening_connection(pg: PostgresDatabase) -> None:
    listener = await pg.connect_async()
    try:
        await listener.execute("LISTEN alertflow_test")
        await pg.write(lambda tx: tx.execute("SELECT pg_notify('alertflow_test', 'hello')").fetchone())
        notes = [(n.channel, n.payload) async for n in listener.notifies(timeout=WAIT_SECONDS, stop_after=1)]
        assert notes == [("alertflow_test", "hello")]
    finally:
        await listener.close()


async def test_rows_read_by_position_by_name_and_as_a_dict(pg: PostgresDatabase) -> None:
    row = await pg.fetchone("SELECT 1 AS a, 'x' AS b, 2 AS a")
    assert row is not None
    assert (row[0], row["a"], row["b"], row[2], len(row)) == (1, 1, "x", 2, 3)
    assert row.keys() == ["a", "b"] and dict(row) == {"a": 1, "b": "x"} and list(row) == [1, "x", 2]


def test_placeholders_become_psycopgs_and_quoted_text_stays_as_written() -> None:
    assert translate("SELECT ? , '?%', \"a?\" -- why?\n FROM t WHERE x LIKE '%' || ?") == (
        "SELECT %s , '?%%', \"a?\" -- why?\n FROM t WHERE x LIKE '%%' || %s",
        False,
    )
    assert translate("WHERE a = ?1 AND b = ?2 AND c = ?1") == (
        "WHERE a = %(p1)s AND b = %(p2)s AND c = %(p1)s",
        True,
    )


async def test_numbered_placeholders_bind_each_value_by_its_number(pg: PostgresDatabase) -> None:
    row = await pg.fetchone("SELECT ?2 AS b, ?1 AS a, ?2 || '%' AS c", ("one", "two"))
    assert row is not None and dict(row) == {"b": "two", "a": "one", "c": "two%"}


async def test_a_failing_write_in_a_group_rolls_back_only_its_own_work(pg: PostgresDatabase) -> None:
    def good(tx: Any) -> None:
        tx.execute("INSERT INTO tenants VALUES ('a', 'a', 0)")

    def bad(tx: Any) -> None:
        tx.execute("INSERT INTO tenants VALUES ('b', 'b', 0)")
        tx.execute("INSERT INTO tenants VALUES ('b2', 'a', 0)")  # name is unique: fails

    results = await asyncio.gather(pg.write(good), pg.write(bad), pg.write(good), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], psycopg.errors.UniqueViolation)
    assert isinstance(results[2], psycopg.errors.UniqueViolation)  # 'a' again, after the first
    assert [r["id"] for r in await pg.fetchall("SELECT id FROM tenants ORDER BY id")] == ["a"]


def test_a_full_disk_is_storage_full_and_a_lost_server_storage_unavailable() -> None:
    assert isinstance(_classify(psycopg.errors.DiskFull("could not extend file")), StorageFull)
    gone = _classify(psycopg.errors.AdminShutdown("terminating connection due to administrator command"))
    assert isinstance(gone, StorageUnavailable) and "administrator command" in str(gone)
    other = psycopg.errors.UniqueViolation("duplicate key")
    assert _classify(other) is other


async def test_opening_a_database_no_server_answers_for_says_it_is_unavailable() -> None:
    db = PostgresDatabase(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    with pytest.raises(StorageUnavailable, match="the database is unavailable: connection failed"):
        await db.open()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/x", 'storage.url: Value error, expected "sqlite:" or a "postgresql://..." URL'),
        ("postgresql://h/db?nosuchoption=1", "storage.url: Value error, not a valid PostgreSQL URL"),
    ],
)
def test_a_storage_url_of_another_kind_is_refused_naming_the_key(url: str, message: str, tmp_path: Path) -> None:
    from alertflow.config import load

    (tmp_path / "c.toml").write_text(f'[storage]\nurl = "{url}"\n')
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load(tmp_path / "c.toml", env={})


def test_the_password_comes_from_its_file_and_never_shows_in_the_url_logged(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    storage = StorageConfig(
        url="postgresql://af:inurl@db.internal:5433/alertflow?sslmode=require", password_file=secret
    )
    assert storage.password() == "s3cret"
    assert storage.redacted_url() == "postgresql://af@db.internal:5433/alertflow"
    with pytest.raises(ConfigError, match=r"storage\.password_file: cannot read"):
        StorageConfig(url="postgresql://db/x", password_file=tmp_path / "missing").password()
    with pytest.raises(ConfigError, match=r"storage\.password_file: only for a postgresql"):
        StorageConfig(password_file=secret).password()

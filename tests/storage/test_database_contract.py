"""What every backend's database does, whatever the area stored in it: a write alone (an import)
keeps all or nothing, and on PostgreSQL leaves the single writer free."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from alertflow.storage import users
from alertflow.storage.database import POSTGRESQL, Database, Later, StorageUnavailable, Tx
from tests.process import WAIT_SECONDS
from tests.storage.groups import insert, one_group, tenants


async def test_a_write_returns_its_functions_result_once_committed(database: Database) -> None:
    def answer(tx: Tx) -> int:
        return 42

    assert await database.write(answer) == 42


async def test_a_failing_write_raises_to_its_caller_and_others_in_its_group_still_commit(
    database: Database,
) -> None:
    def fail(tx: Tx) -> None:
        raise ValueError("refused")

    def fine(tx: Tx) -> str:
        return "kept"

    results = await asyncio.gather(database.write(fail), database.write(fine), return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1] == "kept"
    with pytest.raises(ValueError, match="refused"):
        await database.write(fail)


async def test_a_write_that_raises_after_writing_is_undone_alone_and_its_group_runs_again(
    database: Database,
) -> None:
    # The writers run a group without a savepoint per write (storage/database.py): the refusal
    # ends that pass, and the group runs again with one savepoint each. What the refused write
    # stored must go, what the others stored must stay, once.
    runs: list[str] = []

    def counted(tenant: str) -> Callable[[Tx], str]:
        def fn(tx: Tx) -> str:
            runs.append(tenant)
            return insert(tenant)(tx)

        return fn

    def refuses(tx: Tx) -> None:
        runs.append("refused")
        insert("r")(tx)
        raise ValueError("refused")

    results = await one_group(database, counted("a"), refuses, counted("b"))
    assert results[0] == "a" and isinstance(results[1], ValueError) and results[2] == "b"
    assert [t for t in await tenants(database) if t in ("a", "b", "r")] == ["a", "b"]
    assert runs == ["a", "refused", "a", "refused", "b"]


def inserted_later(tenant: str) -> Callable[[Tx], Later[str]]:
    def fn(tx: Tx) -> Later[str]:
        cursor = tx.execute("INSERT INTO tenants VALUES (?, ?, 0) RETURNING id || '!'", (tenant, tenant))
        return Later(lambda: str(cursor.fetchone()[0]))

    return fn


async def test_a_later_result_reaches_the_caller_as_its_value_in_a_group_and_in_a_rerun(
    database: Database,
) -> None:
    assert await database.write(inserted_later("alone")) == "alone!"
    assert await one_group(database, inserted_later("a"), insert("b"), inserted_later("c")) == ["a!", "b", "c!"]

    def refuses(tx: Tx) -> None:
        raise ValueError("refused")

    results = await one_group(database, inserted_later("d"), refuses, inserted_later("e"))
    assert results[0] == "d!" and isinstance(results[1], ValueError) and results[2] == "e!"
    assert await database.write_alone(inserted_later("f")) == "f!"


def people(count: int) -> list[users.User]:
    return [users.User(user_id=f"u{i}", email=f"u{i}@example.com") for i in range(count)]


async def test_a_write_alone_returns_once_committed_and_a_failure_in_its_last_row_stores_nothing(
    database: Database, tenant_id: str
) -> None:
    many = users.prepare(tenant_id, people(1000))
    assert await database.write_alone(lambda tx: users.put_many(tx, many)) is None
    assert await users.get(database, tenant_id, "u999") is not None

    fresh = users.prepare(tenant_id, [users.User(user_id=f"new{i}") for i in range(1000)])
    no_tenant = users.prepare("ten_missing", [users.User(user_id="last")])  # breaks the foreign key
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        await database.write_alone(lambda tx: users.put_many(tx, fresh, no_tenant))
    assert await users.get(database, tenant_id, "new0") is None
    assert await users.get(database, tenant_id, "new999") is None


def only_on_postgresql(database: Database) -> None:
    if database.dialect != POSTGRESQL:
        pytest.skip("SQLite writes one transaction at a time: write_alone is write")


async def test_others_writes_commit_while_a_write_alone_is_open_and_do_not_see_it(
    database: Database, tenant_id: str
) -> None:
    only_on_postgresql(database)
    others_committed = threading.Event()

    def long_import(tx: Tx) -> str:
        users.put_many(tx, users.prepare(tenant_id, people(10)))
        assert others_committed.wait(WAIT_SECONDS), "the writer waited for the lone write"
        return "imported"

    alone = asyncio.ensure_future(database.write_alone(long_import))
    await database.write(lambda tx: users.put(tx, tenant_id, users.User(user_id="other")))
    assert await users.get(database, tenant_id, "other") is not None
    assert await users.get(database, tenant_id, "u0") is None  # nothing of it until it commits
    others_committed.set()
    assert await alone == "imported"
    assert await users.get(database, tenant_id, "u9") is not None


async def test_a_write_alone_that_meets_a_row_the_writer_holds_gives_up_and_the_writer_commits(
    database: Database, tenant_id: str
) -> None:
    only_on_postgresql(database)
    locked, release = threading.Event(), threading.Event()

    def hold(tx: Tx) -> None:
        users.put(tx, tenant_id, users.User(user_id="u5", name="the writer's"))
        locked.set()
        assert release.wait(WAIT_SECONDS)

    held = asyncio.ensure_future(database.write(hold))
    assert await asyncio.to_thread(locked.wait, WAIT_SECONDS)
    with pytest.raises(StorageUnavailable, match="being changed by another write"):
        await database.write_alone(lambda tx: users.put_many(tx, users.prepare(tenant_id, people(10))))
    release.set()
    await held
    found = await users.get(database, tenant_id, "u5")
    assert found is not None and found.name == "the writer's"
    assert await users.get(database, tenant_id, "u0") is None

"""The PostgreSQL writer sends a group's statements in pipeline mode (issue 15): without
waiting for each result, yet with each job's failure its own. These tests make one group for
certain (tests/storage/groups.py) and check what pipelining could break: a job whose statement
failed is undone alone, though the failure surfaces late, in another statement; rowcount;
isolated(); two nodes' groups that deadlock. A job that raised by itself is the contract
tests' (tests/storage)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable

import psycopg.errors
import pytest

from alertflow.storage import rate_buckets
from alertflow.storage.database import Later, Tx, isolated
from alertflow.storage.postgres import PostgresDatabase
from tests.storage.groups import insert, one_group, tenants


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    db = PostgresDatabase(postgres_url)
    await db.open()
    yield db
    await db.close()


async def test_a_failing_statement_undoes_its_own_job_only_though_it_surfaces_in_another(
    pg: PostgresDatabase,
) -> None:
    def reads_after(tx: Tx) -> int:
        insert("c")(tx)
        return int(tx.execute("SELECT COUNT(*) FROM tenants").fetchone()[0])

    # 'b2' takes the name 'a': unique, so it fails, after 'b' was written in the same job.
    def fails(tx: Tx) -> None:
        insert("b")(tx)
        insert("b2", "a")(tx)

    results = await one_group(pg, insert("a"), fails, reads_after)
    assert results[0] == "a" and isinstance(results[1], psycopg.errors.UniqueViolation)
    assert results[2] == 2  # 'a' and its own 'c': nothing of the failed job
    assert await tenants(pg) == ["a", "c"]


async def test_rowcount_in_a_group_counts_the_rows_the_statement_changed(pg: PostgresDatabase) -> None:
    await pg.write(lambda tx: [insert(t)(tx) for t in ("x1", "x2", "x3")])

    def delete_two(tx: Tx) -> int:
        return tx.execute("DELETE FROM tenants WHERE id IN ('x1', 'x2')").rowcount

    def delete_none(tx: Tx) -> int:
        return tx.execute("DELETE FROM tenants WHERE id = 'nobody'").rowcount

    assert await one_group(pg, delete_two, insert("y"), delete_none) == [2, "y", 0]
    assert await tenants(pg) == ["x3", "y"]


async def test_a_step_isolated_inside_a_job_fails_alone_and_its_job_goes_on(pg: PostgresDatabase) -> None:
    def composed(tx: Tx) -> str:
        insert("m")(tx)
        _, error = isolated(tx, insert("m2", "m"))  # the name is taken: this step fails
        insert("n")(tx)
        return type(error).__name__

    results = await one_group(pg, insert("k"), composed, insert("z"))
    assert results == ["k", "UniqueViolation", "z"]
    assert await tenants(pg) == ["k", "m", "n", "z"]


async def test_later_results_are_read_after_the_group_commits_so_no_write_waits_on_the_server(
    pg: PostgresDatabase,
) -> None:
    events: list[str] = []

    def returning(tenant: str) -> Callable[[Tx], Later[str]]:
        def fn(tx: Tx) -> Later[str]:
            events.append(f"ran {tenant}")
            cursor = tx.execute("INSERT INTO tenants VALUES (?, ?, 0) RETURNING id", (tenant, tenant))
            return Later(lambda: events.append(f"read {tenant}") or str(cursor.fetchone()[0]))

        return fn

    assert await one_group(pg, returning("a"), returning("b"), returning("c")) == ["a", "b", "c"]
    assert events == ["ran a", "ran b", "ran c", "read a", "read b", "read c"]


async def test_a_group_that_loses_a_race_in_its_rerun_too_runs_again_from_the_start(pg: PostgresDatabase) -> None:
    """PostgreSQL may fail a job to break a deadlock (SQLSTATE 40P01) in the one-at-a-time run
    as well: the transaction ends, releasing its rows to the other node, and the group runs
    again. Every job goes through, once."""
    losses = iter([True, True])  # the pipelined run and the first one-at-a-time run lose

    def loses_twice(tx: Tx) -> str:
        insert("b")(tx)
        if next(losses, False):
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return "b"

    assert await one_group(pg, insert("a"), loses_twice, insert("c")) == ["a", "b", "c"]
    assert await tenants(pg) == ["a", "b", "c"]


async def test_a_job_that_keeps_losing_keeps_its_error_and_the_others_go_through(pg: PostgresDatabase) -> None:
    def always_loses(tx: Tx) -> None:
        insert("b")(tx)
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    results = await one_group(pg, insert("a"), always_loses, insert("c"))
    assert results[0] == "a" and isinstance(results[1], psycopg.errors.DeadlockDetected) and results[2] == "c"
    assert await tenants(pg) == ["a", "c"]


async def test_two_nodes_whose_groups_deadlock_lose_one_rerun_not_a_write(postgres_url: str) -> None:
    """Two nodes' groups take the same two rows in opposite orders (two tenants' publish
    buckets): PostgreSQL breaks the deadlock by failing one group, which runs again until it
    goes through. Every take is granted once: none lost, none doubled."""
    a, b = PostgresDatabase(postgres_url), PostgresDatabase(postgres_url)
    await a.open()
    await b.open()
    try:
        a_holds_x, b_holds_y = threading.Event(), threading.Event()
        runs: Counter[str] = Counter()  # of each node's first job

        def take_then_wait(key: str, mine: threading.Event, theirs: threading.Event) -> Callable[[Tx], int]:
            def fn(tx: Tx) -> int:
                runs[key] += 1
                granted = take(key)(tx)
                mine.set()
                assert theirs.wait(LOCK_CEILING_SECONDS), "the other node never took its first row"
                return granted

            return fn

        results = await asyncio.gather(
            one_group(a, take_then_wait("x", a_holds_x, b_holds_y), take("y")),
            one_group(b, take_then_wait("y", b_holds_y, a_holds_x), take("x")),
        )
        assert results == [[3, 3], [3, 3]]
        # A group was failed and ran again (more than once when its rerun met the other anew).
        assert max(runs.values()) >= 2
        rows = await a.fetchall("SELECT key, tokens FROM rate_buckets ORDER BY key")
        assert [(r["key"], r["tokens"]) for r in rows] == [("x", 4.0), ("y", 4.0)]  # 10 - 3 - 3 each
    finally:
        await a.close()
        await b.close()


# How long a node's first job waits for the other's before the test gives up on it: a ceiling
# for a broken run, far past PostgreSQL's deadlock_timeout (1 s).
LOCK_CEILING_SECONDS = 60.0


def take(key: str) -> Callable[[Tx], int]:
    """Three tokens of a bucket of ten that does not refill (one time for every take)."""
    return lambda tx: rate_buckets.take(tx, "publish", key, 0.001, 10.0, 3, 1000.0).granted

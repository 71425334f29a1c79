"""The PostgreSQL implementation of :class:`~.database.Database`, for several nodes on one database.

The same design as SQLite's: one writer thread runs the write functions on one connection,
each inside its own SAVEPOINT, and commits the whole group at once. The group goes in
pipeline mode (``_pipelined``): statements are sent without waiting for each result, so a
group costs a round trip per read, not per statement. After a failed statement, or a write
function that raised, the group runs again one job at a time (``_one_by_one``, each in its
savepoint; a group of one needs none), so a write function may run more than once: it must
not consume what it closes over (an iterator). A group PostgreSQL fails to break a deadlock
with another node's runs again from the start, a few times. psycopg 3's
sync connection serves the writer as it is, where asyncpg would have made every storage
operation a coroutine; reads go through a pool of async connections.

The storage modules' SQL is written once, with SQLite's ``?`` placeholders, and crosses to
psycopg through ``pg_dialect`` (placeholders, rows, booleans), so the storage code needs no
second form except where a function or construct differs (see ``database.dialect``).

When the server goes away, what is in flight fails with :class:`~.database.StorageUnavailable`
(the API's 503) and the next writes reconnect, no more often than a backoff allows, so a
long outage answers fast rather than piling up waiting requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import psycopg
import psycopg.errors
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from . import migrations
from .database import (
    POSTGRESQL,
    PROBE_BYTES,
    Cursor,
    GroupWriter,
    Outcome,
    Row,
    StorageFull,
    StorageUnavailable,
    T,
    WriteFn,
    _Job,
    settled,
)
from .pg_dialect import ADAPTERS, bind, row_factory, translate

log = logging.getLogger(__name__)

# Readers: a few connections serve the API's reads; each one is a PostgreSQL backend process.
READER_CONNECTIONS = 4
# How long a read waits for a reader: while the database is down, a read fails after this.
READ_WAIT_SECONDS = 5.0
# Reconnecting: the first retry soon after a failure, then less and less often up to the cap,
# so /readyz turns ready within a couple of seconds of the server's return.
RECONNECT_FIRST_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 2.0
# How long opening waits for the database (a node may start while PostgreSQL still does).
CONNECT_TIMEOUT_SECONDS = 10
# Plans made for each run: one cached while a new database's tables were small kept sequential
# scans as they grew (README, Benchmarks). A SET, as PgBouncer refuses options it does not track.
PLAN_EVERY_TIME = "SET plan_cache_mode = force_custom_plan"
# Any constant both nodes agree on: the key of the advisory lock held while migrating.
MIGRATION_LOCK_KEY = 0x616C657274666C6F  # "alertflo"
# PostgreSQL's "disk full" (class 53: insufficient resources).
DISK_FULL = "53100"
# How long a write run alone (write_alone) waits for a row another transaction holds before
# it gives up: well under PostgreSQL's deadlock_timeout (1 s by default), so in a deadlock with
# the group writer it is always the lone write that fails, never a group of others' writes.
ALONE_LOCK_WAIT_MS = 200
# PostgreSQL failed the transaction so that another could go on: a deadlock (two nodes' groups
# taking the same rows in opposite orders) or a lost serialization race. Its writes are sound
# and go through when run again, the other transaction having committed meanwhile.
LOST_RACE = ("40P01", "40001")
# Runs of a group one job at a time after it lost such a race, before each job keeps its error.
LOST_RACE_RETRIES = 3
LOST_RACE_PAUSE_SECONDS = 0.05
# The server went away: a connection exception (class 08), or it shut down or is starting
# (57P01-57P03). An error without any SQLSTATE is the client's: the connection failed.
GONE = ("08", "57P")


def unavailable(exc: BaseException) -> StorageUnavailable:
    """A failed connection as the rest of AlertFlow knows it, naming the cause, never the password."""
    # libpq's first line says it ("server closed the connection unexpectedly"); the rest guesses.
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return StorageUnavailable(f"the database is unavailable: {reason}")


def _classify(exc: BaseException) -> BaseException:
    """Disk full as :class:`StorageFull`, a lost connection as :class:`StorageUnavailable`."""
    if isinstance(exc, psycopg.Error) and exc.sqlstate == DISK_FULL:
        return StorageFull(exc)
    if isinstance(exc, psycopg.errors.PipelineAborted):  # skipped after another statement failed
        return exc
    if isinstance(exc, psycopg.OperationalError) and (exc.sqlstate is None or exc.sqlstate.startswith(GONE)):
        return unavailable(exc)
    return exc


class PostgresTx:
    """The writer's transaction handed to write functions (``database.Tx``).

    In pipeline mode (``pipeline`` given) statements are sent without waiting for their
    results, and a failure surfaces later, in whichever statement then waits: ``failed``
    records that one was seen, so the group is run again one job at a time."""

    dialect = POSTGRESQL
    classify = staticmethod(_classify)  # database.isolated names failures as the writer does

    def __init__(self, conn: psycopg.Connection[Any], pipeline: psycopg.Pipeline | None = None) -> None:
        self._conn = conn
        self._pipeline = pipeline
        self.failed = False

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        query, numbered = translate(sql)
        if self._pipeline is None:
            return self._conn.execute(query, bind(parameters, numbered))
        return _PipelinedCursor(self, self.watch(self._conn.execute, query, bind(parameters, numbered)))

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        query, numbered = translate(sql)
        cursor = self._conn.cursor()
        self.watch(cursor.executemany, query, [bind(p, numbered) for p in parameters])
        return cursor if self._pipeline is None else _PipelinedCursor(self, cursor)

    def watch(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, remembering whether it raised psycopg's error (see ``failed``)."""
        try:
            return fn(*args)
        except psycopg.Error:
            self.failed = True
            raise

    def sync(self) -> None:
        """Wait for every result sent so far (pipeline mode)."""
        assert self._pipeline is not None
        self.watch(self._pipeline.sync)


class _PipelinedCursor:
    """A pipelined statement's cursor: fetching waits for its result (psycopg does), and so does
    ``rowcount``, which psycopg leaves at -1 until then."""

    def __init__(self, tx: PostgresTx, cursor: psycopg.Cursor[Any]) -> None:
        self._tx, self._cursor = tx, cursor

    @property
    def rowcount(self) -> int:
        self._tx.sync()
        return self._cursor.rowcount

    def fetchone(self) -> Any:
        return self._tx.watch(self._cursor.fetchone)

    def fetchall(self) -> list[Any]:
        return self._tx.watch(self._cursor.fetchall)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


def connect(url: str, password: str | None = None) -> psycopg.Connection[Any]:
    """A sync connection with AlertFlow's settings."""
    conn = psycopg.Connection.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, **settings(password))
    try:
        conn.execute(PLAN_EVERY_TIME)
    except BaseException:
        conn.close()
        raise
    return conn


def settings(password: str | None) -> dict[str, Any]:
    """What each of a node's connections starts with (autocommit: the writer says BEGIN itself)."""
    found = {"autocommit": True, "row_factory": row_factory, "context": ADAPTERS}
    return {**found, "password": password} if password else found


async def plan_every_time(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute(PLAN_EVERY_TIME)


def upgrade(conn: psycopg.Connection[Any]) -> int:
    """Bring the schema up to date under an advisory lock: nodes starting at once migrate once
    (the second waits, then finds every version applied). Returns the newest version."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        done = {int(row[0]) for row in conn.execute("SELECT version FROM schema_version")}
        shipped = migrations.available(POSTGRESQL)
        newest = migrations.check_version(done, shipped)
        for number, _name, sql in shipped:
            if number not in done:
                # No parameters: the file goes as one simple query, every statement in one
                # transaction with its version row.
                conn.execute(f"BEGIN;\n{sql}\nINSERT INTO schema_version VALUES ({number});\nCOMMIT;".encode())
        return newest
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def scratch_schema(url: str, schema: str, create: bool) -> str:
    """Drop ``schema`` and all in it from the database at ``url`` and, if ``create``, make it
    anew; the connection string whose new tables go there (its search_path): a scratch area
    beside AlertFlow's tables, as the benchmark's reference writes in."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if create:
            conn.execute(f"CREATE SCHEMA {schema}")
    return make_conninfo(url, options=f"-c search_path={schema}")


class PostgresDatabase(GroupWriter):
    """:class:`~.database.Database` on PostgreSQL (``[storage] url = "postgresql://..."``)."""

    dialect = POSTGRESQL

    def __init__(self, url: str, password: str | None = None) -> None:
        super().__init__()
        self.url = url
        self._password = password
        self._pool: AsyncConnectionPool[Any] | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0
        self._backoff = RECONNECT_FIRST_SECONDS

    def connect(self) -> psycopg.Connection[Any]:
        """A new sync connection to this database (for LISTEN/NOTIFY, a CLI command...)."""
        return connect(self.url, self._password)

    async def connect_async(self) -> psycopg.AsyncConnection[Any]:
        """A new async autocommit connection to this database, outside the readers' pool: one
        that holds a LISTEN, say. Closing it is the caller's."""
        return await psycopg.AsyncConnection.connect(self.url, **settings(self._password))

    async def open(self) -> None:
        """Connect, migrate and start the writer and the readers; :class:`StorageUnavailable`
        when the server cannot be reached."""
        try:
            conn = await asyncio.to_thread(self.connect)
        except psycopg.OperationalError as exc:
            raise unavailable(exc) from exc
        try:
            await asyncio.to_thread(upgrade, conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._start_writer()
        self._pool = AsyncConnectionPool(
            self.url,
            min_size=READER_CONNECTIONS,
            max_size=READER_CONNECTIONS,
            kwargs=settings(self._password),
            configure=plan_every_time,
            open=False,
            name="alertflow-readers",
            timeout=READ_WAIT_SECONDS,
        )
        await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self._stop_writer()

    async def write_alone(self, fn: WriteFn[T]) -> T:
        """:meth:`~.database.Database.write_alone`: on a connection of its own, as another node's
        writer would be, so the group writer commits others' writes meanwhile."""
        return await asyncio.to_thread(self._write_alone, fn)

    def _write_alone(self, fn: WriteFn[T]) -> T:
        try:
            conn = self.connect()
        except psycopg.Error as exc:
            raise unavailable(exc) from exc
        try:
            conn.execute("BEGIN")
            conn.execute(f"SET LOCAL lock_timeout = {ALONE_LOCK_WAIT_MS}")
            result = settled(fn(PostgresTx(conn)))
            conn.execute("COMMIT")
            return result
        except psycopg.errors.LockNotAvailable as exc:
            raise StorageUnavailable("rows this write changes are being changed by another write") from exc
        except psycopg.Error as exc:
            error = _classify(exc)
            if error is exc:
                raise
            if isinstance(error, StorageFull):
                self._full = str(error)
            raise error from exc
        finally:
            conn.close()  # uncommitted work, if any, is rolled back with it

    async def probe(self) -> None:
        def store_and_drop(tx: Any) -> None:
            # The column is stored uncompressed (migration 0011), so zeros take their room.
            tx.execute("INSERT INTO storage_probe (data) VALUES (decode(repeat('00', ?), 'hex'))", (PROBE_BYTES,))
            tx.execute("DELETE FROM storage_probe")

        await self.write(store_and_drop)
        self._full = None  # the largest write fits again (see Database.full)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        assert self._pool is not None, "the database is not open"
        query, numbered = translate(sql)
        values = bind(params, numbered)
        # Readers left broken by a server restart: the first to fail has the pool drop every
        # broken one, and the read is tried once more on a fresh connection.
        for attempt in (1, 2):
            try:
                async with self._pool.connection() as conn:
                    cursor = await conn.execute(query, values)
                    return await cursor.fetchall()
            except psycopg.OperationalError as exc:
                error = _classify(exc)
                if not isinstance(error, StorageUnavailable) or attempt == 2:
                    raise error from exc
                await self._pool.check()
            except PoolTimeout as exc:
                raise unavailable(exc) from exc
        raise AssertionError("unreachable")

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    # The writer thread.

    def _close_writer(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _connection(self) -> psycopg.Connection[Any]:
        """The writer's connection, reconnected if it was lost (at most once per backoff)."""
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        if time.monotonic() < self._retry_at:
            raise StorageUnavailable("the database is unavailable; reconnecting")
        try:
            self._conn = self.connect()
        except psycopg.Error as exc:
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, RECONNECT_MAX_SECONDS)
            log.warning("database connection failed: %s", str(exc).strip())
            raise unavailable(exc) from exc
        self._backoff = RECONNECT_FIRST_SECONDS
        log.info("database connection restored")
        return self._conn

    def _commit_group(self, group: list[_Job]) -> list[Outcome]:
        outcomes: list[Outcome] | None = []
        try:
            conn = self._connection()
            outcomes = _pipelined(conn, group)
            if outcomes is None:  # a statement failed, no one knows whose: nothing was committed
                outcomes = _rerun(conn, group)
            self.commits += 1
            # Answered, pipelined or rerun one write at a time: a Later reads what is here.
            outcomes = [(job, settled(result), error) for job, result, error in outcomes]
        except BaseException as exc:  # the COMMIT itself failed: nobody's write happened
            error = _classify(exc)
            if isinstance(error, StorageFull | StorageUnavailable):
                log.warning("group commit failed: %s", error)
            else:
                log.exception("group commit failed")
            self._rollback()
            outcomes = [(job, None, error) for job in group]
        return outcomes

    def _rollback(self) -> None:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()  # reconnected before the next group


def _pipelined(conn: psycopg.Connection[Any], group: list[_Job]) -> list[Outcome] | None:
    """The group in pipeline mode: statements go without waiting for each result, so a group
    waits on the server only where a job reads one (a SELECT, RETURNING, rowcount) and once at
    COMMIT, not once per statement (~0.8 ms each on a busy machine). No job has a savepoint of
    its own here: each statement costs the writer a round of the pipeline and its Python, and
    a publish's two savepoint statements had cost more than its one INSERT.

    None when a job raised or a statement failed (PostgreSQL skips every later statement until
    the next sync, and the failure surfaces in whichever statement next waits, so whose it was
    is unknown). Then nothing is committed, and the caller runs the group again one job at a
    time, each in its savepoint; a write function may therefore run twice (its first run left
    nothing behind)."""
    tx: PostgresTx | None = None
    outcomes: list[Outcome] = []
    try:
        with conn.pipeline() as pipeline:
            tx = PostgresTx(conn, pipeline)
            conn.execute("BEGIN")
            for job in group:
                try:
                    outcomes.append((job, job.fn(tx), None))
                except Exception as exc:
                    if not tx.failed:
                        tx.sync()  # a statement of this job still in flight may have failed
                    error = _classify(exc)
                    if isinstance(error, StorageUnavailable) and not tx.failed:
                        raise error from exc
                    tx.failed = True  # its own work cannot be undone alone: the group runs again
                    break
                if tx.failed:  # it caught a statement's failure (database.isolated)
                    break
            if not tx.failed:
                conn.execute("COMMIT")
    except psycopg.Error as exc:  # a statement's failure, raised by a later one or the sync at exit
        if conn.broken or conn.closed:
            raise unavailable(exc) from exc
        outcomes = []
    if tx is not None and not tx.failed and outcomes and conn.info.transaction_status == TransactionStatus.IDLE:
        return outcomes
    conn.execute("ROLLBACK")
    return None


class _LostRace(Exception):
    """A job's statement was failed to break a deadlock (``LOST_RACE``): the whole transaction
    must end, releasing its rows, before any of it can go through."""


def _rerun(conn: psycopg.Connection[Any], group: list[_Job]) -> list[Outcome]:
    """The group one job at a time; from the start again while PostgreSQL fails it to break a
    deadlock with another node's transaction. Run again in the same transaction, a job would
    wait for the other node, which waits for the rows this transaction still holds: a deadlock
    each time (the two-node test met one)."""
    for _ in range(LOST_RACE_RETRIES):
        try:
            return _one_by_one(conn, group, retry=True)
        except _LostRace:
            conn.execute("ROLLBACK")
            time.sleep(LOST_RACE_PAUSE_SECONDS)  # the other transaction takes the rows first
    return _one_by_one(conn, group, retry=False)


def _one_by_one(conn: psycopg.Connection[Any], group: list[_Job], retry: bool) -> list[Outcome]:
    """The group with each statement waited for, so a failure is its own job's (``retry``: but
    a lost race raises :class:`_LostRace`)."""
    tx = PostgresTx(conn)
    conn.execute("BEGIN")
    if len(group) == 1:  # alone in its transaction: a failure rolls back only its own work
        outcomes = [_run_alone(conn, tx, group[0], retry)]
    else:
        outcomes = [(job, *_run_in_savepoint(conn, tx, job.fn, retry)) for job in group]
    conn.execute("COMMIT")
    return outcomes


def _lost_race(exc: BaseException, retry: bool) -> bool:
    return retry and isinstance(exc, psycopg.Error) and exc.sqlstate in LOST_RACE


def _run_alone(conn: psycopg.Connection[Any], tx: PostgresTx, job: _Job, retry: bool) -> Outcome:
    try:
        result = job.fn(tx)
    except Exception as exc:
        error = _classify(exc)
        if isinstance(error, StorageUnavailable):
            raise error from exc
        if _lost_race(exc, retry):
            raise _LostRace from exc
        conn.execute("ROLLBACK")
        conn.execute("BEGIN")  # the COMMIT that follows then commits nothing
        return job, None, error
    return job, result, None


def _run_in_savepoint(
    conn: psycopg.Connection[Any], tx: PostgresTx, fn: WriteFn[Any], retry: bool
) -> tuple[Any, BaseException | None]:
    conn.execute("SAVEPOINT job")
    try:
        result = fn(tx)
    except Exception as exc:
        error = _classify(exc)
        if isinstance(error, StorageUnavailable):
            raise error from exc  # the connection is gone, and the group's work with it
        if _lost_race(exc, retry):
            raise _LostRace from exc
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return None, error
    conn.execute("RELEASE job")
    return result, None

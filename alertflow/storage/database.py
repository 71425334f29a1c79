"""The database: one writer that commits in groups, and separate reader connections.

Writes are functions run on the single write connection. The writer thread takes every
function that arrived while the previous COMMIT was in flight, runs each inside its own
SAVEPOINT (so one failing caller never undoes another's work) and commits them together:
one fsync for the whole group. ../shared/PERFORMANCE.md measured this at ~12,000 writes/s
against 2,000-4,000/s for a COMMIT per request, with ``synchronous=FULL`` costing ~10%.

This is why the writer is a plain thread over ``sqlite3`` rather than an aiosqlite
connection: aiosqlite awaits every statement separately (~80 µs each) and cannot run several
callers' statements inside one transaction. Reads, which need no grouping, go through
aiosqlite connections of their own.

The interface (``write``, ``fetchall``, ``fetchone``) is all the rest of AlertFlow uses, with
plain SQL, so a PostgreSQL implementation can stand beside this one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, overload

import aiosqlite

from . import migrations

T = TypeVar("T")
# The two dialects a storage operation may have to tell apart (see ``dialect``).
SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class Row(Protocol):
    """A result row as both backends give it: by position, by column name, ``dict(row)``."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    """What a statement run in a transaction gives back."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """The transaction a write function runs in: an ``sqlite3.Connection`` itself (no wrapper
    on the hot path) or storage/postgres.py's. Outside storage/ it is an opaque handle: code
    there passes it on to storage operations and never runs a statement on it."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...


WriteFn = Callable[[Tx], T]


class Later(Generic[T]):
    """A write's result that needs the database's answer (``RETURNING id``), read once the
    write's statements have been answered: on PostgreSQL after the group's COMMIT, where
    reading it inside the write would wait on the pipelined server once per write in the
    group; on SQLite, where nothing is in flight, at once (a RETURNING statement left unread
    would stop its savepoint's RELEASE). The caller of ``write`` gets the value.
    Only what the write function itself returns is read so: a Later inside another value (a
    tuple, :func:`isolated`'s result) reaches the caller unread."""

    __slots__ = ("read",)

    def __init__(self, read: Callable[[], T]) -> None:
        self.read = read


def settled(result: Any) -> Any:
    """A write function's result as its caller gets it: a :class:`Later` read."""
    return result.read() if isinstance(result, Later) else result


def dialect(owner: Tx | Database) -> str:
    """The SQL dialect of a transaction or database: SQLITE or POSTGRESQL. A storage operation
    whose SQL cannot be portable picks its form by it, in place: ``X_PG if dialect(tx) ==
    POSTGRESQL else X``. A plain sqlite3 connection (a test's, the CLI's) has no attribute."""
    return getattr(owner, "dialect", SQLITE)


log = logging.getLogger(__name__)

# A reader per core is enough: SQLite reads in WAL mode never wait for the writer.
READER_CONNECTIONS = 2
# How long a statement waits on another process's lock (a CLI command beside `serve`).
BUSY_TIMEOUT_MS = 5000
# What the probe for space stores and drops: about what the largest single write needs (a
# publish to 1,000 recipients, or a bulk fan-out step, ~0.7 MiB), so space that lets it
# commit lets them commit too. A smaller probe said "ready" while publishes still got 507.
PROBE_BYTES = 1024 * 1024


class StorageUnavailable(RuntimeError):
    """The database cannot be reached (a server restart, a network cut): nothing of the write
    is known to be stored. The API answers 503; the backend reconnects by itself."""


class StorageFull(sqlite3.OperationalError):
    """A write failed because the disk, or the database's size limit, is full: nothing of
    it was stored. The API answers it with 507; workers wait for space (see ``full``)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"storage is full: {cause}")


def _full_or_same(exc: BaseException) -> BaseException:
    """SQLite's "database or disk is full" as :class:`StorageFull`; any other error as it is."""
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StorageFull(exc)
    return exc


class Database(Protocol):
    """What the rest of AlertFlow needs from storage."""

    dialect: str
    commits: int  # groups committed, for /metrics and the benchmark

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @overload
    async def write(self, fn: Callable[[Tx], Later[T]]) -> T: ...

    @overload
    async def write(self, fn: WriteFn[T]) -> T: ...

    async def write_alone(self, fn: WriteFn[T]) -> T:
        """Run ``fn(tx)`` in a transaction of its own, all or nothing, for a long write (an
        import of 100,000 users): where the backend takes several writers at once
        (PostgreSQL), beside the single writer, so others' writes go on committing; else
        (SQLite, one writer by design) as :meth:`write`."""

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    @property
    def full(self) -> str | None:
        """Why writes fail for lack of space, from the last failure until a probe commits.

        Not until any write commits: a small one (an outcome) can fit in the last pages
        while a publish still cannot, and "ready" must mean the largest write fits."""

    async def probe(self) -> None:
        """Commit a write that needs new space; raise :class:`StorageFull` if it cannot."""


def apply_pragmas(conn: sqlite3.Connection) -> None:
    """Every connection's settings, in one place."""
    # Pages retention frees go back to the file system (retention_rows.vacuum). It takes
    # effect only in a new database, before its first table; an older one keeps its freed
    # pages for new rows unless converted once with VACUUM (README "Retention"). Set on a new
    # file only: on an existing one the statement is a write, and opening must not write.
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: an acknowledged publish survives power loss; grouped commits make it cheap.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")


# Python's sqlite3 binds only exact ints, floats and strs directly. Any other parameter is
# looked up for an adapter, and where there is none, the failed attribute lookups raise and
# format an AttributeError each: a publish binds ~16 NULLs, a tenth of its binding work.
# These adapters give what binding the value unadapted gives (NULL, 0/1, a blob), at a
# dictionary lookup. They are the sqlite3 module's, process-wide, and change no value.
sqlite3.register_adapter(type(None), lambda _: None)
sqlite3.register_adapter(bool, int)
sqlite3.register_adapter(bytes, bytes)


class SQLiteConnection(sqlite3.Connection):
    """An sqlite3 connection that names its dialect: a class attribute, so no call pays."""

    dialect = SQLITE


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=SQLiteConnection)
    conn.row_factory = sqlite3.Row
    apply_pragmas(conn)
    return conn


class _Job:
    __slots__ = ("fn", "future", "loop")

    def __init__(self, fn: WriteFn[Any], future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop):
        self.fn, self.future, self.loop = fn, future, loop


Outcome = tuple[_Job, Any, BaseException | None]


def _resolve_all(outcomes: list[Outcome]) -> None:
    for job, result, error in outcomes:
        if job.future.cancelled():
            continue
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)


class GroupWriter:
    """The single writer both backends share: a thread that takes every write that arrived
    while the previous COMMIT was in flight and commits them as one group. A backend says
    how a group is committed (``_commit_group``) and what closes its connection."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.commits = 0  # groups committed, for /metrics and the benchmark
        self._full: str | None = None

    @property
    def full(self) -> str | None:
        return self._full

    def _start_writer(self) -> None:
        self._thread = threading.Thread(target=self._run, name="alertflow-writer", daemon=True)
        self._thread.start()

    async def _stop_writer(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    @overload
    async def write(self, fn: Callable[[Tx], Later[T]]) -> T: ...

    @overload
    async def write(self, fn: WriteFn[T]) -> T: ...

    async def write(self, fn: WriteFn[Any]) -> Any:
        """Run ``fn(tx)`` in the writer; returns once its group is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._jobs.put(_Job(fn, future, loop))
        return await future

    def _run(self) -> None:
        try:
            while True:
                first = self._jobs.get()
                if first is None:
                    return
                group = [first]
                stop = self._drain(group)
                self._settle(self._commit_group(group))
                if stop:
                    return
        finally:
            self._close_writer()

    def _drain(self, group: list[_Job]) -> bool:
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            group.append(job)

    def _commit_group(self, group: list[_Job]) -> list[Outcome]:
        """Each job's result or error, once the group's transaction has ended."""
        raise NotImplementedError

    def _close_writer(self) -> None:
        raise NotImplementedError

    def _settle(self, outcomes: list[Outcome]) -> None:
        full = [e for _, _, e in outcomes if isinstance(e, StorageFull)]
        if full:
            self._full = str(full[0])
        # One wake-up per event loop, not per job: each call_soon_threadsafe writes to the
        # loop's self-pipe, a system call and a loop iteration for every write in the group.
        by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, done in by_loop.items():
            loop.call_soon_threadsafe(_resolve_all, done)


class SQLiteDatabase(GroupWriter):
    """The SQLite implementation of :class:`Database`."""

    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._next_reader = itertools.count()

    async def open(self) -> None:
        """Start the writer and the readers. Interrupted (a SIGTERM during start-up cancels
        it), it leaves every reader it began in ``_readers``, so :meth:`close` stops their
        threads: they are not daemon threads, and one left running kept the process alive."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        migrations.upgrade(self._conn)
        self._start_writer()
        for _ in range(READER_CONNECTIONS):
            reader = aiosqlite.connect(self.path, isolation_level=None)
            self._readers.append(reader)
            await reader
            reader.row_factory = sqlite3.Row
            await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await reader.execute("PRAGMA query_only = ON")

    async def close(self) -> None:
        for reader in self._readers:
            await reader.close()
        self._readers.clear()
        await self._stop_writer()

    async def write_alone(self, fn: WriteFn[T]) -> T:
        # SQLite lets one connection write at a time: a second one would only wait for the writer.
        return await self.write(fn)

    async def probe(self) -> None:
        def store_and_drop(conn: Tx) -> None:
            conn.execute("INSERT INTO storage_probe (data) VALUES (zeroblob(?))", (PROBE_BYTES,))
            conn.execute("DELETE FROM storage_probe")

        await self.write(store_and_drop)
        self._full = None  # the largest write fits again

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        reader = self._readers[next(self._next_reader) % len(self._readers)]
        return list(await reader.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    def _close_writer(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _commit_group(self, group: list[_Job]) -> list[Outcome]:
        conn = self._conn
        assert conn is not None, "the database is not open"
        try:
            conn.execute("BEGIN IMMEDIATE")
            outcomes = _all_or_none(conn, group)
            if outcomes is None:  # a job raised, and its own work cannot be undone alone
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                outcomes = [(job, *_run_in_savepoint(conn, job.fn)) for job in group]
            conn.execute("COMMIT")
            self.commits += 1
        except BaseException as exc:  # the COMMIT itself failed: nobody's write happened
            error = _full_or_same(exc)
            if isinstance(error, StorageFull):
                log.warning("group commit failed: %s", error)
            else:
                log.exception("group commit failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(job, None, error) for job in group]
        return outcomes


def _all_or_none(conn: sqlite3.Connection, group: list[_Job]) -> list[Outcome] | None:
    """Every job's result, each run without a savepoint of its own; None as soon as one raises.

    The savepoints cost two statements a job, and the sqlite3 module hands the GIL to the event
    loop and waits to take it back at every statement: a publish's three INSERTs took five. A
    job that raises is rare (a refusal inside a write); then the group runs again with a
    savepoint each, as on PostgreSQL, so a write function may run twice (its first run left
    nothing behind)."""
    outcomes: list[Outcome] = []
    for job in group:
        try:
            outcomes.append((job, settled(job.fn(conn)), None))
        except Exception:
            return None
    return outcomes


def _run_in_savepoint(conn: sqlite3.Connection, fn: WriteFn[Any]) -> tuple[Any, BaseException | None]:
    conn.execute("SAVEPOINT job")
    try:
        result = settled(fn(conn))
    except Exception as exc:
        if not conn.in_transaction:
            # SQLite may roll the whole transaction back on SQLITE_FULL or an I/O error:
            # the group's earlier work is gone too, so the group fails as one.
            raise _full_or_same(exc) from exc
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return None, _full_or_same(exc)
    conn.execute("RELEASE job")
    return result, None


def isolated(tx: Tx, fn: WriteFn[T]) -> tuple[T | None, BaseException | None]:
    """Run ``fn`` inside a savepoint of the caller's transaction: if it fails, its work alone
    is undone and its error returned, so a write composing several steps (a pool's outcomes
    and its next claim) keeps the others. Portable SQL: PostgreSQL takes the same statements."""
    tx.execute("SAVEPOINT isolated")
    try:
        result = fn(tx)
    except Exception as exc:
        error = _classified(tx, exc)
        if isinstance(error, StorageUnavailable):
            raise error from exc  # the connection is gone, and the whole write with it
        try:
            tx.execute("ROLLBACK TO SAVEPOINT isolated")
            tx.execute("RELEASE SAVEPOINT isolated")
        except Exception:  # the whole transaction is gone (SQLITE_FULL may do that): so is the write
            raise error from exc
        return None, error
    tx.execute("RELEASE SAVEPOINT isolated")
    return result, None


def _classified(tx: Tx, exc: BaseException) -> BaseException:
    """A failure as the writer would name it (StorageFull, StorageUnavailable): by the
    transaction's own ``classify`` where it has one (storage/postgres.py's), else SQLite's."""
    classify: Callable[[BaseException], BaseException] = getattr(tx, "classify", _full_or_same)
    return classify(exc)

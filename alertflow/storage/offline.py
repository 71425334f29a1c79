"""A short-lived connection for CLI commands (``init``, ``tenants create``, ``dlq replay``):
storage operations run on it directly, outside any server's group-committing writer, and
safely beside a running ``alertflow serve`` on the same database (WAL, the busy timeout).

It has the server's connection settings and brings the schema up to date first, as the
server does at start. Each :meth:`Session.write` is a transaction of its own, taken with
``BEGIN IMMEDIATE`` so that it waits (up to the busy timeout) for the server's writer rather
than failing halfway when both write. On PostgreSQL (``session_for`` a ``postgresql://``
configuration) it is a connection of its own, each write a plain transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import migrations
from .database import Later, Tx, connect, settled

if TYPE_CHECKING:
    from ..config import StorageConfig

T = TypeVar("T")


class Session:
    """Runs storage operations on the command's connection; ``tx`` stays opaque to callers."""

    def __init__(self, conn: Tx, begin: str = "BEGIN IMMEDIATE") -> None:
        self._conn, self._begin = conn, begin

    def read(self, fn: Callable[[Tx], T]) -> T:
        """``fn(tx)`` outside a transaction: each statement sees what is committed now."""
        return fn(self._conn)

    @overload
    def write(self, fn: Callable[[Tx], Later[T]]) -> T: ...

    @overload
    def write(self, fn: Callable[[Tx], T]) -> T: ...

    def write(self, fn: Callable[[Tx], Any]) -> Any:
        """``fn(tx)`` in one transaction: all of its writes are committed, or none."""
        self._conn.execute(self._begin)
        try:
            result = settled(fn(self._conn))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return result


@contextmanager
def session(path: Path) -> Iterator[Session]:
    """A session on the database at ``path``, created (with its directory) if missing and
    migrated; raises :class:`~.migrations.SchemaTooNew` for a newer AlertFlow's database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        migrations.upgrade(conn)
        yield Session(conn)
    finally:
        conn.close()


@contextmanager
def session_for(storage: StorageConfig, sqlite_path: Path) -> Iterator[Session]:
    """A session on the database ``[storage]`` names: :func:`session` on SQLite's file, else a
    migrated PostgreSQL connection (``SchemaTooNew`` as there)."""
    if not storage.postgresql:
        with session(sqlite_path) as found:
            yield found
        return
    import psycopg

    from . import postgres

    try:
        conn = postgres.connect(storage.url, storage.password())
    except psycopg.OperationalError as exc:  # refused, no such host or database, a wrong password
        raise postgres.unavailable(exc) from exc
    try:
        postgres.upgrade(conn)
        yield Session(postgres.PostgresTx(conn), "BEGIN")
    finally:
        conn.close()

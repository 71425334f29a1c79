"""Schema versions: ordered SQL files, applied once each, in one transaction per file.

Each version is one file name in two dialects: ``migrations/NNNN_name.sql`` for SQLite and
``migrations/postgresql/NNNN_name.sql`` for PostgreSQL (storage/postgres.py applies those).

A database whose version is newer than the newest file here was written by a newer
AlertFlow; opening it could corrupt what that version relies on, so it is refused.
"""

from __future__ import annotations

import re
import sqlite3
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(RuntimeError):
    """The database was written by a newer AlertFlow than this one."""


def available(dialect: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped for ``dialect``, in order: SQLite's
    files are in ``migrations/``, another dialect's in the folder named for it there."""
    folder = resources.files(__package__).joinpath("migrations")
    if dialect != "sqlite":
        folder = folder.joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def applied(conn: sqlite3.Connection) -> set[int]:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    return {int(row[0]) for row in conn.execute("SELECT version FROM schema_version")}


def upgrade(conn: sqlite3.Connection) -> int:
    """Apply every shipped migration the database has not had yet; returns the newest version.

    Each file is recorded by its number, not by a high-water mark: a migration that arrived
    through a merge with a lower number than one already applied still runs.
    """
    shipped = available()
    done = applied(conn)
    newest = check_version(done, shipped)
    for number, _name, sql in shipped:
        if number in done:
            continue
        # executescript() commits first, so each file runs in a transaction of its own.
        conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nINSERT INTO schema_version VALUES ({number});\nCOMMIT;")
    return newest


def check_version(done: set[int], shipped: list[tuple[int, str, str]]) -> int:
    """The newest version shipped; :class:`SchemaTooNew` if the database has a newer one."""
    newest = shipped[-1][0] if shipped else 0
    if done and max(done) > newest:
        raise SchemaTooNew(
            f"database schema version {max(done)} is newer than this AlertFlow supports ({newest}); "
            "upgrade AlertFlow or restore a backup taken by this version"
        )
    return newest

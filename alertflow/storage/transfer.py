"""``alertflow storage copy``: an SQLite install moved into an empty PostgreSQL database.

Tables are copied in the order the migrations create them, so every row a foreign key
points at is there first; each with PostgreSQL's COPY (one stream per table, not a statement
per row). All of it is one transaction, and before it commits every table's row count is
compared with SQLite's: a copy is whole and verified, or nothing of it is left behind.

The schema comes from the PostgreSQL migrations (storage/postgres.py applies them), and the
SQLite file is first brought to the same version, so both sides have the same tables and
columns. Identity columns take the copied values and their sequences continue after them.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import migrations
from .database import POSTGRESQL
from .database import connect as sqlite_connect

# What migrations create; storage_probe holds nothing between two statements and the version
# table is each backend's own.
_CREATE = re.compile(r"^\s*CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.IGNORECASE | re.MULTILINE)
_NOT_COPIED = {"schema_version", "storage_probe"}


class CopyRefused(RuntimeError):
    """The copy cannot start (or verify): nothing was written."""


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


def tables_in_migration_order() -> list[str]:
    """Every table the PostgreSQL migrations create, in the order they create them."""
    found: list[str] = []
    for _number, _name, sql in migrations.available(POSTGRESQL):
        found += [t for t in _CREATE.findall(sql) if t not in found and t not in _NOT_COPIED]
    return found


def copy_to_postgresql(
    sqlite_path: Path, url: str, password: str | None, progress: Callable[[Copied], None]
) -> list[Copied]:
    """Copy every table of the SQLite database at ``sqlite_path`` into the PostgreSQL database
    at ``url``, which must hold no AlertFlow rows; raises :class:`CopyRefused` saying why not."""
    import psycopg  # loaded only when PostgreSQL is used

    from . import postgres

    if not sqlite_path.exists():
        raise CopyRefused(f"no database at {sqlite_path}")
    source = sqlite_connect(sqlite_path)
    try:
        migrations.upgrade(source)  # the same schema version as the one made below
        try:
            target = postgres.connect(url, password)
        except psycopg.Error as exc:
            raise CopyRefused(f"cannot connect to the PostgreSQL database: {exc}") from None
        try:
            return _copy(source, target, progress)
        finally:
            target.close()
    finally:
        source.close()


def _copy(source: sqlite3.Connection, target: Any, progress: Callable[[Copied], None]) -> list[Copied]:
    from . import postgres

    _refuse_unless_empty(target)
    postgres.upgrade(target)
    tables = tables_in_migration_order()
    copied: list[Copied] = []
    with target.transaction():
        for table in tables:
            columns, identities = _columns(target, table)
            rows = _copy_table(source, target, table, columns, identities)
            for column in identities:
                target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                    f" COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
                )
            counted = target.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            if counted != rows:  # raising here rolls the whole copy back
                raise CopyRefused(f"{table}: {rows} rows read from SQLite but {counted} in PostgreSQL")
            copied.append(Copied(table, rows))
            progress(copied[-1])
    return copied


def _refuse_unless_empty(target: Any) -> None:
    """An empty database, or one whose AlertFlow tables hold no rows (a node started on it once)."""
    existing = {
        r[0]
        for r in target.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    }
    for table in sorted(existing - _NOT_COPIED):
        if target.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
            raise CopyRefused(f"the PostgreSQL database is not empty (table {table} has rows): copy into an empty one")
    target.commit()  # end the read's transaction: the upgrade takes its own


def _columns(target: Any, table: str) -> tuple[list[str], list[str]]:
    """The table's columns in PostgreSQL, and those of them that are identity columns."""
    rows = target.execute(
        "SELECT column_name, is_identity FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [r[0] for r in rows], [r[0] for r in rows if r[1] == "YES"]


def _copy_table(source: sqlite3.Connection, target: Any, table: str, columns: list[str], identities: list[str]) -> int:
    present = {r[1] for r in source.execute(f"PRAGMA table_info({table})")}
    if not present:
        raise CopyRefused(f"{table}: not in the SQLite database (is it from this AlertFlow version?)")
    # SQLite: a PostgreSQL identity column SQLite does without stands for its rowid (the
    # insertion order some reads sort by), so that is what it gets.
    selected = [c if c in present or c not in identities else "rowid" for c in columns]
    missing = [c for c in selected if c not in present and c != "rowid"]
    if missing:
        raise CopyRefused(f"{table}: SQLite has no column {', '.join(missing)}")
    rows = 0
    with target.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as stream:
        for row in source.execute(f"SELECT {', '.join(selected)} FROM {table}"):
            stream.write_row(tuple(row))
            rows += 1
    return rows

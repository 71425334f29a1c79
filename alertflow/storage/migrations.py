"""Schema versions: ordered SQL files, applied once each, in one transaction per file.

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


def available() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped, in order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def upgrade(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; returns the version reached."""
    shipped = available()
    newest = shipped[-1][0] if shipped else 0
    version = current_version(conn)
    if version > newest:
        raise SchemaTooNew(
            f"database schema version {version} is newer than this AlertFlow supports ({newest}); "
            "upgrade AlertFlow or restore a backup taken by this version"
        )
    for number, _name, sql in shipped:
        if number <= version:
            continue
        # executescript() commits first, so each file runs in a transaction of its own.
        conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nINSERT INTO schema_version VALUES ({number});\nCOMMIT;")
        version = number
    return version

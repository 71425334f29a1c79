"""Which :class:`~.database.Database` a configuration names: ``[storage] url``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .database import Database, SQLiteDatabase

if TYPE_CHECKING:
    from ..config import StorageConfig


def database_for(storage: StorageConfig, sqlite_path: Path) -> Database:
    """SQLite's file at ``sqlite_path`` (``sqlite:``), or the PostgreSQL database of the URL."""
    if not storage.postgresql:
        return SQLiteDatabase(sqlite_path)
    from .postgres import PostgresDatabase  # psycopg is loaded only when PostgreSQL is used

    return PostgresDatabase(storage.url, storage.password())

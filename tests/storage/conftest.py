"""The storage contract: every test here runs against each backend through the ``database``
fixture, and uses only the storage operations (never SQL of its own), so a new backend
passes by running this directory unchanged: SQLite and PostgreSQL (a database of its own per
test on the session's throwaway server, tests/postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alertflow.storage.database import Database, SQLiteDatabase
from alertflow.storage.postgres import PostgresDatabase

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty, migrated database of the backend under test."""
    db: Database
    if request.param == "postgresql":
        db = PostgresDatabase(request.getfixturevalue("postgres_url"))
    else:
        db = SQLiteDatabase(tmp_path / "contract.db")
    await db.open()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def tenant_id(database: Database) -> str:
    """A tenant stored in ``database``: every tenant's rows refer to one."""
    from alertflow.storage import tenant_rows

    await database.write(lambda tx: tenant_rows.add_tenant(tx, "ten_contract", "contract", 0.0))
    return "ten_contract"

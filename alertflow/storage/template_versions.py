"""Templates: each one's head (name, active and latest version) and its immutable versions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .database import Database, Tx


@dataclass(frozen=True)
class Head:
    """A template as a whole: which version publishes use, and the newest one."""

    key: str
    name: str | None
    active_version: int
    latest_version: int
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class StoredVersion:
    """One immutable version as stored (templates/store.py's Version adds today's reading of it)."""

    key: str
    version: int
    name: str | None
    content: dict[str, Any]
    variables: tuple[str, ...]
    created_at: float
    options: dict[str, Any] | None = None  # send options publishes of this version default to


_HEAD = "SELECT key, name, active_version, latest_version, created_at, updated_at FROM templates"


def _head(row: Any) -> Head:
    return Head(*(row[f] for f in ("key", "name", "active_version", "latest_version", "created_at", "updated_at")))


def head_for_write(tx: Tx, tenant_id: str, key: str) -> Head | None:
    """The head as the writer sees it, for a write that depends on it."""
    row = tx.execute(f"{_HEAD} WHERE tenant_id = ? AND key = ?", (tenant_id, key)).fetchone()
    return _head(row) if row else None


async def head(db: Database, tenant_id: str, key: str) -> Head | None:
    row = await db.fetchone(f"{_HEAD} WHERE tenant_id = ? AND key = ?", (tenant_id, key))
    return _head(row) if row else None


async def keys(db: Database, tenant_id: str) -> list[str]:
    rows = await db.fetchall("SELECT key FROM templates WHERE tenant_id = ? ORDER BY key", (tenant_id,))
    return [r["key"] for r in rows]


def add_version(
    tx: Tx,
    tenant_id: str,
    key: str,
    version: int,
    name: str | None,
    content: dict[str, Any],
    variables: tuple[str, ...],
    now: float,
    options: dict[str, Any] | None = None,
) -> None:
    """Store ``version`` and make it both the latest and the active one (creating the head)."""
    tx.execute(
        "INSERT INTO template_versions (tenant_id, key, version, name, content, variables, created_at, options)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (
            tenant_id,
            key,
            version,
            name,
            json.dumps(content),
            json.dumps(list(variables)),
            now,
            json.dumps(options) if options else None,
        ),
    )
    tx.execute(
        "INSERT INTO templates (tenant_id, key, name, active_version, latest_version, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT (tenant_id, key) DO UPDATE SET name = excluded.name,"
        " active_version = excluded.active_version, latest_version = excluded.latest_version,"
        " updated_at = excluded.updated_at",
        (tenant_id, key, name, version, version, now, now),
    )


def activate(tx: Tx, tenant_id: str, key: str, version: int, now: float) -> bool:
    """Make a stored version the active one; False when there is no such version."""
    if not tx.execute(
        "SELECT 1 FROM template_versions WHERE tenant_id = ? AND key = ? AND version = ?", (tenant_id, key, version)
    ).fetchone():
        return False
    tx.execute(
        "UPDATE templates SET active_version = ?, updated_at = ? WHERE tenant_id = ? AND key = ?",
        (version, now, tenant_id, key),
    )
    return True


def delete_template(tx: Tx, tenant_id: str, key: str) -> bool:
    """The template and all its versions (deliveries still waiting for it then fail with a
    reason); False when there was none."""
    tx.execute("DELETE FROM template_versions WHERE tenant_id = ? AND key = ?", (tenant_id, key))
    return tx.execute("DELETE FROM templates WHERE tenant_id = ? AND key = ?", (tenant_id, key)).rowcount > 0


async def version(db: Database, tenant_id: str, key: str, number: int) -> StoredVersion | None:
    row = await db.fetchone(
        "SELECT key, version, name, content, variables, created_at, options FROM template_versions"
        " WHERE tenant_id = ? AND key = ? AND version = ?",
        (tenant_id, key, number),
    )
    if row is None:
        return None
    return StoredVersion(
        row["key"],
        row["version"],
        row["name"],
        json.loads(row["content"]),
        tuple(json.loads(row["variables"])),
        row["created_at"],
        json.loads(row["options"]) if row["options"] else None,
    )


async def version_numbers(db: Database, tenant_id: str, key: str) -> list[int]:
    rows = await db.fetchall(
        "SELECT version FROM template_versions WHERE tenant_id = ? AND key = ? ORDER BY version", (tenant_id, key)
    )
    return [int(r["version"]) for r in rows]

"""Categories a tenant defined (or redefined) for itself."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .database import Database, Tx


@dataclass(frozen=True)
class CategoryRow:
    key: str
    priority: str
    opt_out_allowed: bool
    name: str | None = None
    options: dict[str, Any] | None = None  # send options publishes in it default to


_COLUMNS = "SELECT key, priority, opt_out_allowed, name, options FROM categories"


def _row(r: Any) -> CategoryRow:
    options = json.loads(r["options"]) if r["options"] else None
    return CategoryRow(r["key"], r["priority"], bool(r["opt_out_allowed"]), r["name"], options)


async def get(db: Database, tenant_id: str, key: str) -> CategoryRow | None:
    row = await db.fetchone(f"{_COLUMNS} WHERE tenant_id = ? AND key = ?", (tenant_id, key))
    return _row(row) if row else None


async def all_for(db: Database, tenant_id: str) -> list[CategoryRow]:
    rows = await db.fetchall(f"{_COLUMNS} WHERE tenant_id = ? ORDER BY key", (tenant_id,))
    return [_row(r) for r in rows]


def put(tx: Tx, tenant_id: str, category: CategoryRow, now: float) -> None:
    """Define the category, or replace the tenant's definition of it."""
    tx.execute(
        "INSERT INTO categories (tenant_id, key, priority, opt_out_allowed, name, updated_at, options)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT (tenant_id, key) DO UPDATE SET priority = excluded.priority,"
        " opt_out_allowed = excluded.opt_out_allowed, name = excluded.name, updated_at = excluded.updated_at,"
        " options = excluded.options",
        (
            tenant_id,
            category.key,
            category.priority,
            int(category.opt_out_allowed),
            category.name,
            now,
            json.dumps(category.options) if category.options else None,
        ),
    )


def delete(tx: Tx, tenant_id: str, key: str) -> bool:
    """Remove the tenant's definition; False when it had none."""
    return tx.execute("DELETE FROM categories WHERE tenant_id = ? AND key = ?", (tenant_id, key)).rowcount > 0

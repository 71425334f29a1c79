"""Preference categories: each carries a default priority and whether users may opt out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..storage import category_rows

if TYPE_CHECKING:
    from ..cache import TtlCache
    from ..storage.database import Database


@dataclass(frozen=True)
class Category:
    key: str
    priority: str
    opt_out_allowed: bool = True
    options: dict[str, Any] | None = None  # send options its publishes default to (intake/options.py)
    name: str | None = None  # what people read, where the key is an identifier


BUILTIN: dict[str, Category] = {
    c.key: c
    for c in (
        Category("otp", "high", opt_out_allowed=False),
        Category("transactional", "high"),
        Category("alerts", "medium"),
        Category("marketing", "low"),
        Category("default", "medium"),
    )
}


def from_row(row: category_rows.CategoryRow) -> Category:
    return Category(row.key, row.priority, row.opt_out_allowed, row.options, row.name)


async def resolve(db: Database, tenant_id: str, key: str) -> Category | None:
    """The tenant's own definition of ``key``, else the built-in one, else None."""
    row = await category_rows.get(db, tenant_id, key)
    return from_row(row) if row else BUILTIN.get(key)


def cache_key(tenant_id: str) -> tuple[str, str]:
    """Where a tenant's categories sit in the settings cache; writes drop this key."""
    return ("categories", tenant_id)


async def cached(settings: TtlCache, db: Database, tenant_id: str) -> dict[str, Category]:
    """The tenant's categories through the settings cache: every publish and send reads them."""
    found: dict[str, Category] = await settings.get(cache_key(tenant_id), lambda: all_for(db, tenant_id))
    return found


async def all_for(db: Database, tenant_id: str) -> dict[str, Category]:
    rows = await category_rows.all_for(db, tenant_id)
    return {**BUILTIN, **{r.key: from_row(r) for r in rows}}

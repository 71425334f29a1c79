"""A tenant's own categories: defined, redefined, listed and removed."""

from __future__ import annotations

from alertflow.storage import category_rows
from alertflow.storage.category_rows import CategoryRow
from alertflow.storage.database import Database


async def test_a_category_put_again_is_redefined_and_listed_once(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: category_rows.put(tx, tenant_id, CategoryRow("news", "low", True, "News"), 1.0))
    await database.write(lambda tx: category_rows.put(tx, tenant_id, CategoryRow("otp", "high", False), 1.0))
    await database.write(lambda tx: category_rows.put(tx, tenant_id, CategoryRow("news", "medium", False), 2.0))
    assert await category_rows.get(database, tenant_id, "news") == CategoryRow("news", "medium", False)
    assert await category_rows.all_for(database, tenant_id) == [
        CategoryRow("news", "medium", False),
        CategoryRow("otp", "high", False),
    ]


async def test_deleting_a_category_says_whether_the_tenant_had_it(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: category_rows.put(tx, tenant_id, CategoryRow("news", "low", True), 1.0))
    assert await database.write(lambda tx: category_rows.delete(tx, tenant_id, "news")) is True
    assert await category_rows.get(database, tenant_id, "news") is None
    assert await database.write(lambda tx: category_rows.delete(tx, tenant_id, "news")) is False

"""Tenants and API keys: a tenant is found by id or name, a key by its hash."""

from __future__ import annotations

from alertflow.storage import tenant_rows
from alertflow.storage.database import Database, Tx


async def test_a_tenant_is_found_by_its_id_or_its_name_and_its_name_is_taken(database: Database) -> None:
    def add_and_find(tx: Tx) -> tuple[str | None, str | None, str | None, bool, bool]:
        tenant_rows.add_tenant(tx, "ten_1", "acme", 1.0)
        return (
            tenant_rows.tenant_id_of(tx, "ten_1"),
            tenant_rows.tenant_id_of(tx, "acme"),
            tenant_rows.tenant_id_of(tx, "nobody"),
            tenant_rows.name_taken(tx, "acme"),
            tenant_rows.name_taken(tx, "other"),
        )

    assert await database.write(add_and_find) == ("ten_1", "ten_1", None, True, False)


async def test_only_an_added_tenant_exists(database: Database) -> None:
    await database.write(lambda tx: tenant_rows.add_tenant(tx, "ten_1", "acme", 1.0))
    assert await database.write(lambda tx: tenant_rows.tenant_exists(tx, "ten_1")) is True
    assert await database.write(lambda tx: tenant_rows.tenant_exists(tx, "acme")) is False


async def test_an_issued_key_is_found_by_its_hash_with_its_tenant_and_role(database: Database, tenant_id: str) -> None:
    await database.write(
        lambda tx: tenant_rows.add_key(tx, "key_1", tenant_id, "af_1234", "hash-1", "admin", "ci", 2.0)
    )
    assert await tenant_rows.key_holder(database, "hash-1") == tenant_rows.KeyHolder("key_1", tenant_id, "admin")
    assert await tenant_rows.key_holder(database, "hash-2") is None


async def test_tenants_are_listed_oldest_first(database: Database) -> None:
    assert await database.write(tenant_rows.first_tenant) is None

    def two(tx: Tx) -> None:
        tenant_rows.add_tenant(tx, "ten_b", "later", 2.0)
        tenant_rows.add_tenant(tx, "ten_a", "first", 1.0)

    await database.write(two)
    assert [t.name for t in await tenant_rows.all_tenants(database)] == ["first", "later"]
    assert await database.write(tenant_rows.first_tenant) == "ten_a"

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


async def add_keys(database: Database, tenant_id: str) -> None:
    def add(tx: Tx) -> None:
        tenant_rows.add_key(tx, "key_1", tenant_id, "af_00000001", "hash-1", "owner", "first", 1.0)
        tenant_rows.add_key(tx, "key_2", tenant_id, "af_00000002", "hash-2", "member", None, 2.0)

    await database.write(add)


async def test_keys_are_listed_oldest_first_and_found_by_prefix_within_their_tenant(
    database: Database, tenant_id: str
) -> None:
    await add_keys(database, tenant_id)
    listed = await tenant_rows.keys(database, tenant_id)
    assert [(k.prefix, k.role, k.name, k.created_at, k.last_used_at) for k in listed] == [
        ("af_00000001", "owner", "first", 1.0, None),
        ("af_00000002", "member", None, 2.0, None),
    ]
    assert await tenant_rows.keys(database, None) == listed
    assert await tenant_rows.keys(database, "ten_other") == []
    assert await database.write(lambda tx: tenant_rows.keys_for_write(tx, tenant_id)) == listed
    assert await database.write(lambda tx: tenant_rows.key_by_prefix(tx, "af_00000002", tenant_id)) == listed[1:]
    assert await database.write(lambda tx: tenant_rows.key_by_prefix(tx, "af_00000002", "ten_other")) == []
    assert await database.write(lambda tx: tenant_rows.prefix_taken(tx, "af_00000001")) is True
    assert await database.write(lambda tx: tenant_rows.owner_keys(tx, tenant_id)) == 1


async def test_a_revoked_key_authenticates_no_more_and_is_revoked_once(database: Database, tenant_id: str) -> None:
    await add_keys(database, tenant_id)
    revoked = await database.write(lambda tx: tenant_rows.revoke(tx, "key_1", 5.0))
    assert revoked == tenant_rows.Revoked("key_1", "hash-1")
    assert await database.write(lambda tx: tenant_rows.revoke(tx, "key_1", 6.0)) is None
    assert await tenant_rows.key_holder(database, "hash-1") is None
    assert [k.key_id for k in await tenant_rows.keys(database, tenant_id)] == ["key_2"]
    assert await database.write(lambda tx: tenant_rows.owner_keys(tx, tenant_id)) == 0
    assert await database.write(lambda tx: tenant_rows.key_by_prefix(tx, "af_00000001", None)) == []


async def test_last_use_only_moves_forward(database: Database, tenant_id: str) -> None:
    await add_keys(database, tenant_id)
    await database.write(lambda tx: tenant_rows.record_use(tx, {"key_1": 10.0, "key_2": 20.0}))
    await database.write(lambda tx: tenant_rows.record_use(tx, {"key_1": 9.0}))
    assert [k.last_used_at for k in await tenant_rows.keys(database, tenant_id)] == [10.0, 20.0]

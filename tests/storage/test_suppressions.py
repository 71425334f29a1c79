"""The suppression list's storage contract: one entry per tenant, channel and address, the
latest reason winning; the publish look-up; pages newest first with a literal search."""

from __future__ import annotations

from alertflow.storage import suppressions, tenant_rows
from alertflow.storage.database import Database


async def add(
    db: Database, tenant_id: str, channel: str, address: str, reason: str = "manual", at: float = 1.0
) -> None:
    await db.write(lambda tx: suppressions.put(tx, tenant_id, channel, address, reason, None, at))


async def test_putting_an_address_again_restates_the_reason_and_keeps_the_first_time(
    database: Database, tenant_id: str
) -> None:
    await add(database, tenant_id, "email", "ann@example.com", "manual", 1.0)
    await add(database, tenant_id, "email", "ann@example.com", "bounce", 2.0)
    found = await suppressions.get(database, tenant_id, "email", "ann@example.com")
    assert found is not None and (found.reason, found.created_at) == ("bounce", 1.0)
    assert len(await suppressions.page(database, tenant_id, None, None, 10, None)) == 1


async def test_the_look_up_finds_only_the_pairs_asked_for_in_the_tenant(database: Database, tenant_id: str) -> None:
    assert not await suppressions.any_for(database, tenant_id)
    await add(database, tenant_id, "email", "ann@example.com", "bounce")
    await add(database, tenant_id, "sms", "+15550100123", "complaint")
    await database.write(lambda tx: tenant_rows.add_tenant(tx, "ten_other", "other", 0.0))
    await add(database, "ten_other", "email", "bob@example.com")
    assert await suppressions.any_for(database, tenant_id)
    wanted = [("email", "ann@example.com"), ("sms", "ann@example.com"), ("email", "bob@example.com")]
    assert await suppressions.reasons(database, tenant_id, wanted) == {("email", "ann@example.com"): "bounce"}
    assert await suppressions.reasons(database, tenant_id, []) == {}


async def test_deleting_says_whether_the_address_was_listed(database: Database, tenant_id: str) -> None:
    await add(database, tenant_id, "email", "ann@example.com")
    assert await database.write(lambda tx: suppressions.delete(tx, tenant_id, "email", "ann@example.com"))
    assert await suppressions.get(database, tenant_id, "email", "ann@example.com") is None
    assert not await database.write(lambda tx: suppressions.delete(tx, tenant_id, "email", "ann@example.com"))


async def test_pages_go_newest_first_filtered_by_channel_and_a_literal_part_of_the_address(
    database: Database, tenant_id: str
) -> None:
    for address in ("a_1@example.com", "a%2@example.com", "b@example.com"):
        await add(database, tenant_id, "email", address)
    await add(database, tenant_id, "sms", "+15550100123")
    first = await suppressions.page(database, tenant_id, "email", None, 2, None)
    assert [s.address for s in first] == ["b@example.com", "a%2@example.com"]
    rest = await suppressions.page(database, tenant_id, "email", None, 2, first[-1].id)
    assert [s.address for s in rest] == ["a_1@example.com"]
    assert [s.address for s in await suppressions.page(database, tenant_id, None, "_", 10, None)] == ["a_1@example.com"]
    assert [s.address for s in await suppressions.page(database, tenant_id, None, "%", 10, None)] == ["a%2@example.com"]
    assert [s.channel for s in await suppressions.page(database, tenant_id, "sms", None, 10, None)] == ["sms"]

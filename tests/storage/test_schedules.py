"""Cron schedules: stored, listed, paused and resumed, found due, their firings recorded."""

from __future__ import annotations

from alertflow.storage import schedules
from alertflow.storage.database import Database, Tx
from alertflow.tenants import create_tenant

NOW = 1_000.0
REQUEST = '{"topic": "news", "content": {}}'


async def a_tenant(database: Database, name: str = "acme") -> str:
    def store(tx: Tx) -> str:
        return create_tenant(tx, name)[0]

    return await database.write(store)


async def a_schedule(database: Database, tenant_id: str, schedule_id: str = "sch_1", first: float = NOW + 60) -> None:
    await database.write(
        lambda tx: schedules.insert(tx, schedule_id, tenant_id, "daily", "0 9 * * *", "UTC", REQUEST, first, NOW)
    )


async def test_a_stored_schedule_is_read_back_active(database: Database) -> None:
    tenant_id = await a_tenant(database)
    created = await database.write(
        lambda tx: schedules.insert(tx, "sch_1", tenant_id, "daily", "0 9 * * *", "UTC", REQUEST, NOW + 60, NOW)
    )
    expected = schedules.Schedule(
        "sch_1", tenant_id, "daily", "0 9 * * *", "UTC", REQUEST, False, NOW + 60, None, None, None, NOW, NOW
    )
    assert created == expected
    assert await schedules.get(database, "sch_1", tenant_id) == expected
    assert await schedules.get(database, "sch_1") == expected
    assert await schedules.active(database) == [expected]


async def test_another_tenants_schedule_is_neither_found_listed_nor_deleted(database: Database) -> None:
    await a_schedule(database, await a_tenant(database))
    other = await a_tenant(database, "other")
    assert await schedules.get(database, "sch_1", other) is None
    assert await schedules.of_tenant(database, other) == []
    assert await database.write(lambda tx: schedules.get_in(tx, other, "sch_1")) is None
    assert not await database.write(lambda tx: schedules.delete(tx, other, "sch_1"))
    assert await schedules.get(database, "sch_1") is not None


async def test_a_tenants_schedules_are_listed_by_id(database: Database) -> None:
    tenant_id = await a_tenant(database)
    for schedule_id in ("sch_b", "sch_a"):
        await a_schedule(database, tenant_id, schedule_id)
    assert [s.id for s in await schedules.of_tenant(database, tenant_id)] == ["sch_a", "sch_b"]


async def test_only_schedules_whose_time_has_come_are_due(database: Database) -> None:
    tenant_id = await a_tenant(database)
    await a_schedule(database, tenant_id, "sch_now", first=NOW)
    await a_schedule(database, tenant_id, "sch_later", first=NOW + 60)
    assert await schedules.due(database, NOW) == [("sch_now", NOW)]
    assert await schedules.due(database, NOW + 60, "sch_later") == [("sch_later", NOW + 60)]
    assert await schedules.due(database, NOW, "sch_later") == []


async def test_a_paused_schedule_is_never_due_until_resumed_at_its_new_time(database: Database) -> None:
    tenant_id = await a_tenant(database)
    await a_schedule(database, tenant_id, first=NOW)
    paused = await database.write(lambda tx: schedules.set_paused(tx, "sch_1", True, None, NOW))
    assert paused.paused and paused.next_fire_at == NOW  # None keeps the time it had
    assert await schedules.due(database, NOW + 3600) == []
    assert await schedules.active(database) == []
    resumed = await database.write(lambda tx: schedules.set_paused(tx, "sch_1", False, NOW + 7200, NOW + 1))
    assert (resumed.paused, resumed.next_fire_at, resumed.updated_at) == (False, NOW + 7200, NOW + 1)
    assert await schedules.due(database, NOW + 7200) == [("sch_1", NOW + 7200)]


async def test_a_firing_records_its_batch_and_a_firing_without_one_says_why(database: Database) -> None:
    tenant_id = await a_tenant(database)
    await a_schedule(database, tenant_id, first=NOW)
    await database.write(lambda tx: schedules.record_firing(tx, "sch_1", NOW, "bat_1", None, NOW + 60, NOW))
    fired = await schedules.get(database, "sch_1")
    assert fired is not None
    assert (fired.last_fire_at, fired.last_batch_id, fired.last_error, fired.next_fire_at) == (
        NOW,
        "bat_1",
        None,
        NOW + 60,
    )
    await database.write(lambda tx: schedules.record_firing(tx, "sch_1", NOW + 60, None, "no subscribers", None, NOW))
    failed = await schedules.get(database, "sch_1")
    assert failed is not None
    assert (failed.last_batch_id, failed.last_error, failed.next_fire_at) == ("bat_1", "no subscribers", None)
    assert await schedules.due(database, NOW + 3600) == []


async def test_a_deleted_schedule_is_gone(database: Database) -> None:
    tenant_id = await a_tenant(database)
    await a_schedule(database, tenant_id)
    assert await database.write(lambda tx: schedules.delete(tx, tenant_id, "sch_1"))
    assert not await database.write(lambda tx: schedules.delete(tx, tenant_id, "sch_1"))
    assert await schedules.get(database, "sch_1") is None


async def test_an_update_replaces_body_and_timing_keeping_pause_and_firings_and_not_across_tenants(
    database: Database,
) -> None:
    tenant_id = await a_tenant(database)
    await a_schedule(database, tenant_id, first=NOW)
    await database.write(lambda tx: schedules.record_firing(tx, "sch_1", NOW, "bat_1", None, NOW + 60, NOW))
    await database.write(lambda tx: schedules.set_paused(tx, "sch_1", True, None, NOW))
    other = await a_tenant(database, "other")
    assert (
        await database.write(
            lambda tx: schedules.update(tx, other, "sch_1", "x", "0 0 * * *", "UTC", "{}", NOW + 5, NOW + 1)
        )
        is None
    )
    updated = await database.write(
        lambda tx: schedules.update(
            tx, tenant_id, "sch_1", "weekly", "0 9 * * 1", "Europe/Berlin", '{"topic": "ops"}', NOW + 600, NOW + 2
        )
    )
    assert updated is not None
    assert (updated.name, updated.cron, updated.timezone, updated.request, updated.next_fire_at) == (
        "weekly",
        "0 9 * * 1",
        "Europe/Berlin",
        '{"topic": "ops"}',
        NOW + 600,
    )
    assert (updated.paused, updated.last_batch_id, updated.created_at, updated.updated_at) == (
        True,
        "bat_1",
        NOW,
        NOW + 2,
    )
    assert await schedules.get(database, "sch_1") == updated

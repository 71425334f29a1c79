"""Channel set-ups: a tenant's own providers per channel, saved, loaded and dropped.

Storage keeps the set-up as the sealed text it is given; sealing is tested in
tests/test_channels.py."""

from __future__ import annotations

from alertflow import tenants
from alertflow.storage import channel_setups
from alertflow.storage.database import Database

SETUP = '[{"type": "smtp", "config": {"host": "mail.example.com"}}]'
OTHER_SETUP = '[{"type": "outbox", "config": {}}]'


async def _tenant(database: Database, name: str) -> str:
    tenant_id, _ = await database.write(lambda tx: tenants.create_tenant(tx, name))
    return tenant_id


async def test_a_channel_without_a_set_up_loads_as_none(database: Database) -> None:
    tenant_id = await _tenant(database, "acme")
    assert await channel_setups.load(database, tenant_id, "email") is None


async def test_a_saved_set_up_loads_as_it_was_stored(database: Database) -> None:
    tenant_id = await _tenant(database, "acme")
    await database.write(lambda tx: channel_setups.save(tx, tenant_id, "email", SETUP, 1.0))
    assert await channel_setups.load(database, tenant_id, "email") == SETUP
    assert await channel_setups.load(database, tenant_id, "sms") is None


async def test_saving_again_replaces_the_set_up(database: Database) -> None:
    tenant_id = await _tenant(database, "acme")
    await database.write(lambda tx: channel_setups.save(tx, tenant_id, "email", SETUP, 1.0))
    await database.write(lambda tx: channel_setups.save(tx, tenant_id, "email", OTHER_SETUP, 2.0))
    assert await channel_setups.load(database, tenant_id, "email") == OTHER_SETUP


async def test_set_ups_are_per_tenant(database: Database) -> None:
    acme, globex = await _tenant(database, "acme"), await _tenant(database, "globex")
    await database.write(lambda tx: channel_setups.save(tx, acme, "email", SETUP, 1.0))
    await database.write(lambda tx: channel_setups.save(tx, globex, "email", OTHER_SETUP, 1.0))
    assert await database.write(lambda tx: channel_setups.delete(tx, globex, "email")) is True
    assert await channel_setups.load(database, acme, "email") == SETUP
    assert await channel_setups.load(database, globex, "email") is None


async def test_deleting_drops_the_set_up_once(database: Database) -> None:
    tenant_id = await _tenant(database, "acme")
    await database.write(lambda tx: channel_setups.save(tx, tenant_id, "email", SETUP, 1.0))
    assert await database.write(lambda tx: channel_setups.delete(tx, tenant_id, "email")) is True
    assert await channel_setups.load(database, tenant_id, "email") is None
    assert await database.write(lambda tx: channel_setups.delete(tx, tenant_id, "email")) is False

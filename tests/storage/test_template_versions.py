"""Template versions: each save is a new version that becomes active; activation picks any
stored version; deleting takes every version with it."""

from __future__ import annotations

from alertflow.storage import template_versions
from alertflow.storage.database import Database, Tx

CONTENT = {"channels": {"email": {"subject": "Hi {{ name }}"}}, "locales": {}}


async def test_a_saved_version_is_the_latest_and_the_active_one(database: Database, tenant_id: str) -> None:
    def save_two(tx: Tx) -> None:
        template_versions.add_version(tx, tenant_id, "welcome", 1, "Welcome", CONTENT, ("name",), 1.0)
        template_versions.add_version(
            tx, tenant_id, "welcome", 2, "Welcome 2", {**CONTENT, "locales": {"fr": {}}}, (), 2.0
        )

    await database.write(save_two)
    assert await template_versions.head(database, tenant_id, "welcome") == template_versions.Head(
        "welcome", "Welcome 2", 2, 2, 1.0, 2.0
    )
    assert await template_versions.version(database, tenant_id, "welcome", 1) == template_versions.StoredVersion(
        "welcome", 1, "Welcome", CONTENT, ("name",), 1.0
    )
    assert await template_versions.version_numbers(database, tenant_id, "welcome") == [1, 2]
    assert await template_versions.keys(database, tenant_id) == ["welcome"]
    head = await database.write(lambda tx: template_versions.head_for_write(tx, tenant_id, "welcome"))
    assert head is not None and head.latest_version == 2


async def test_activating_picks_a_stored_version_and_refuses_a_missing_one(database: Database, tenant_id: str) -> None:
    def save_two(tx: Tx) -> None:
        for n in (1, 2):
            template_versions.add_version(tx, tenant_id, "welcome", n, None, CONTENT, (), float(n))

    await database.write(save_two)
    assert await database.write(lambda tx: template_versions.activate(tx, tenant_id, "welcome", 1, 3.0)) is True
    head = await template_versions.head(database, tenant_id, "welcome")
    assert head is not None and (head.active_version, head.latest_version, head.updated_at) == (1, 2, 3.0)
    assert await database.write(lambda tx: template_versions.activate(tx, tenant_id, "welcome", 7, 4.0)) is False
    head = await template_versions.head(database, tenant_id, "welcome")
    assert head is not None and head.active_version == 1


async def test_deleting_a_template_takes_every_version(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: template_versions.add_version(tx, tenant_id, "welcome", 1, None, CONTENT, (), 1.0))
    assert await database.write(lambda tx: template_versions.delete_template(tx, tenant_id, "welcome")) is True
    assert await template_versions.head(database, tenant_id, "welcome") is None
    assert await template_versions.version(database, tenant_id, "welcome", 1) is None
    assert await template_versions.version_numbers(database, tenant_id, "welcome") == []
    assert await template_versions.keys(database, tenant_id) == []
    assert await database.write(lambda tx: template_versions.delete_template(tx, tenant_id, "welcome")) is False

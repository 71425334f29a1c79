"""The audit log's storage contract: entries appended with the actor named as it was then,
read newest first by page with each filter, and kept apart per tenant."""

from __future__ import annotations

from alertflow import tenants
from alertflow.storage import audit_entries, member_rows, tenant_rows
from alertflow.storage.audit_entries import Actor
from alertflow.storage.database import Database
from alertflow.tenants import Role


async def record(db: Database, tenant_id: str, n: int, actor: Actor, action: str, at: float) -> None:
    await db.write(
        lambda tx: audit_entries.record(
            tx, f"aud_{n}", tenant_id, at, actor, "10.0.0.1", action, ("template", "t"), {"a": 1}, {"a": 2}
        )
    )


async def test_an_entry_names_a_key_by_its_prefix_and_a_member_by_email(database: Database, tenant_id: str) -> None:
    key = await database.write(lambda tx: tenants.issue_key(tx, tenant_id, Role.admin))
    await database.write(
        lambda tx: member_rows.add_member(tx, "mem_1", "ann@example.com", tenant_id, "admin", False, 1.0)
    )
    await record(database, tenant_id, 1, Actor("key", key.key_id), "template.update", 1.0)
    await record(database, tenant_id, 2, Actor("member", "mem_1"), "template.delete", 2.0)
    newest, oldest = await audit_entries.page(database, tenant_id, None, None, None, None, 10, None)
    assert (oldest.actor_type, oldest.actor) == ("key", "_".join(key.api_key.split("_")[:2]))
    assert (newest.actor_type, newest.actor, newest.id) == ("member", "ann@example.com", "aud_2")
    assert (oldest.client, oldest.resource_type, oldest.resource_id) == ("10.0.0.1", "template", "t")
    assert (oldest.before, oldest.after, oldest.at) == ({"a": 1}, {"a": 2}, 1.0)


async def test_pages_go_newest_first_below_the_cursor_and_filters_combine(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: tenant_rows.add_tenant(tx, "ten_other", "other", 0.0))
    key = await database.write(lambda tx: tenants.issue_key(tx, tenant_id, Role.admin))
    for n in range(6):
        await record(
            database,
            tenant_id,
            n,
            Actor("key", key.key_id),
            "category.update" if n % 2 else "template.update",
            float(n),
        )
    await record(database, "ten_other", 9, Actor("key", key.key_id), "template.update", 1.0)

    async def ids(**kw: object) -> list[str]:
        args = {"since": None, "until": None, "actor": None, "action": None, "limit": 10, "before": None, **kw}
        return [e.id for e in await audit_entries.page(database, tenant_id, **args)]  # type: ignore[arg-type]

    assert await ids() == [f"aud_{n}" for n in (5, 4, 3, 2, 1, 0)]
    first = await audit_entries.page(database, tenant_id, None, None, None, None, 2, None)
    assert await ids(before=first[-1].seq) == [f"aud_{n}" for n in (3, 2, 1, 0)]
    assert await ids(action="category.*") == ["aud_5", "aud_3", "aud_1"]
    assert await ids(action="category") == []
    assert await ids(action="template.update", since=2.0, until=4.0) == ["aud_2"]
    assert await ids(actor="nobody") == []
    assert len(await ids(actor="_".join(key.api_key.split("_")[:2]))) == 6

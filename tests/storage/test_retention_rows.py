"""Retention's storage contract: a tenant's own days, chunked purges of each kind that stop
at what is too recent (or still queued), and counts that read the same after a purge."""

from __future__ import annotations

from typing import Any

from alertflow.ids import new_id
from alertflow.storage import (
    audit_entries,
    deliveries,
    digests,
    notifications,
    outbox_messages,
    retention_rows,
    stats,
    webhook_endpoints,
)
from alertflow.storage.audit_entries import Actor
from alertflow.storage.database import Database

HOUR = 3600.0


def publish_rows(tenant_id: str, at: float, statuses: tuple[str, ...]) -> tuple[str, list[Any], list[Any]]:
    nid = new_id("ntf")
    n = (nid, tenant_id, None, "default", "medium", at, None, "{}", "{}", None, None, "{}", None, None)
    d = [(new_id("dlv"), nid, tenant_id, "email", s, None, at, at, None) for s in statuses]
    return nid, [n], d


async def add(db: Database, tenant_id: str, at: float, statuses: tuple[str, ...], queued: bool = False) -> str:
    nid, n, d = publish_rows(tenant_id, at, statuses)
    jobs = [(d[0][0], tenant_id, "email", 1, 0, at)] if queued else []
    await db.write(lambda tx: notifications.insert(tx, n, d, jobs))
    return nid


async def test_own_days_are_kept_per_tenant_and_null_means_the_default(database: Database, tenant_id: str) -> None:
    assert await retention_rows.settings(database, tenant_id) == dict.fromkeys(retention_rows.KINDS)
    days = {"notifications": 0, "inbox": 3, "outbox": None, "webhook_attempts": None, "audit": 400}
    await database.write(lambda tx: retention_rows.put_settings(tx, tenant_id, days))
    assert await retention_rows.settings(database, tenant_id) == days
    await database.write(lambda tx: retention_rows.put_settings(tx, tenant_id, {**days, "inbox": None}))
    assert (await retention_rows.overrides(database))[tenant_id]["inbox"] is None


async def test_notifications_go_in_chunks_with_their_deliveries_and_counts_stay(
    database: Database, tenant_id: str
) -> None:
    old = [await add(database, tenant_id, 10 * HOUR + i * 60, ("sent", "failed")) for i in range(3)]
    held = await add(database, tenant_id, 11 * HOUR, ("queued",), queued=True)
    after_held = await add(database, tenant_id, 11 * HOUR + 1, ("sent",))
    recent = await add(database, tenant_id, 100 * HOUR, ("sent",))
    usage = (
        await stats.notifications_between(database, tenant_id, 0, 200 * HOUR),
        await stats.deliveries_between(database, tenant_id, 0, 200 * HOUR),
        await stats.deliveries_by_bucket(database, tenant_id, 0, 200 * HOUR, 86400, None),
    )
    assert usage[0] == 6

    async def purge(limit: int) -> int:
        return await database.write(lambda tx: retention_rows.purge_notifications(tx, tenant_id, 50 * HOUR, limit))

    assert await purge(2) == 2
    assert await purge(2) == 1, "the next is still queued: the purge stops before it"
    assert await purge(2) == 0
    assert (
        await stats.notifications_between(database, tenant_id, 0, 200 * HOUR),
        await stats.deliveries_between(database, tenant_id, 0, 200 * HOUR),
        await stats.deliveries_by_bucket(database, tenant_id, 0, 200 * HOUR, 86400, None),
    ) == usage
    for nid in old:
        assert await deliveries.notification(database, tenant_id, nid) is None
    for nid in (held, after_held, recent):
        assert await deliveries.notification(database, tenant_id, nid) is not None
    assert len(await deliveries.of_notifications(database, old)) == 0


async def test_outbox_captures_and_audit_entries_older_than_the_cutoff_go_oldest_first(
    database: Database, tenant_id: str
) -> None:
    for at in (1.0, 2.0, 3.0, 9.0):
        captured = outbox_messages.Captured(tenant_id, "dlv_x", "ntf_x", "email", "{}", "{}", at)
        await database.write(lambda tx, c=captured: outbox_messages.add(tx, c))  # type: ignore[misc]
        await database.write(
            lambda tx, at=at: audit_entries.record(  # type: ignore[misc]
                tx, new_id("aud"), tenant_id, at, Actor("operator"), None, "x.y", ("x", None)
            )
        )
    assert await database.write(lambda tx: retention_rows.purge_outbox(tx, tenant_id, 5.0, 2)) == 2
    assert await database.write(lambda tx: retention_rows.purge_outbox(tx, tenant_id, 5.0, 2)) == 1
    assert await database.write(lambda tx: retention_rows.purge_audit(tx, tenant_id, 5.0, 10)) == 3
    left = await audit_entries.page(database, tenant_id, None, None, None, None, 10, None)
    assert [e.at for e in left] == [9.0]
    await database.write(lambda tx: retention_rows.vacuum(tx, 10))  # gives space back, or nothing to do


async def test_a_webhooks_attempts_older_than_the_cutoff_go_and_later_ones_stay(
    database: Database, tenant_id: str
) -> None:
    endpoint = webhook_endpoints.Endpoint(
        "whk_1",
        tenant_id,
        "http://127.0.0.1:9/hook",
        ("delivery.sent",),
        None,
        "sealed",
        None,
        None,
        None,
        None,
        None,
        0.0,
        0.0,
    )
    await database.write(lambda tx: webhook_endpoints.add(tx, endpoint))
    for at in (1.0, 2.0, 9.0):
        attempt = webhook_endpoints.AttemptRow("whk_1", tenant_id, "evt", "delivery.sent", at, 200, 1.0, None)
        await database.write(lambda tx, a=attempt: webhook_endpoints.record_attempt(tx, a, None, ""))  # type: ignore[misc]
    assert await database.write(lambda tx: retention_rows.purge_webhook_attempts(tx, tenant_id, 5.0, 10)) == 2
    left = await webhook_endpoints.attempts(database, "whk_1", 10, None)
    assert [a.at for _, a in left] == [9.0]


async def test_a_purged_digest_takes_its_event_list_and_a_purged_event_leaves_the_list(
    database: Database, tenant_id: str
) -> None:
    old_digest, old_event = await add(database, tenant_id, HOUR, ("sent",)), await add(database, tenant_id, HOUR, ())
    kept_digest = await add(database, tenant_id, 100 * HOUR, ("scheduled",))

    def collect(tx: Any) -> None:
        window = digests.open_window(tx, tenant_id, "user:u1", "old", old_digest, HOUR, 2 * HOUR, 10)
        digests.add_event(tx, tenant_id, "user:u1", "old", window, old_event)
        window = digests.open_window(tx, tenant_id, "user:u1", "new", kept_digest, 100 * HOUR, 101 * HOUR, 10)
        digests.add_event(tx, tenant_id, "user:u1", "new", window, old_event)

    await database.write(collect)
    await database.write(lambda tx: retention_rows.purge_notifications(tx, tenant_id, 50 * HOUR, 100))

    assert await digests.size(database, old_digest) == 0
    assert await digests.size(database, kept_digest) == 0, "its one event was purged"

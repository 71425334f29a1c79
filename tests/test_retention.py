"""Retention over a clock moved forward: old rows go in chunks, recent ones stay, usage and
analytics counts do not change, a tenant's own days and 0 (keep forever), /metrics counts."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from tests.conftest import EMAIL, TEST_BACKEND, FakeClock, Harness, StartApp

DAY = 86400.0
T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC).timestamp()
# Long enough that each notification's content fills pages of its own.
BIG = {"email": {"subject": "Disk alert", "text": "/var is 95% full. " * 1000}}
INAPP = {"inapp": {"title": "Disk", "body": "/var is full"}}


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def sent(app: Harness, n: int, content: dict[str, Any] = EMAIL) -> list[str]:
    for i in range(n):
        await ok(await app.call("PUT", f"/v1/users/u{i}", "admin", {"email": f"u{i}@example.com"}))
    to = [{"user_id": f"u{i}"} for i in range(n)]
    ids = [x["id"] for x in (await app.publish({"to": to, "content": content}))["notifications"]]
    for nid in ids:
        await app.settled(nid)
    return ids


async def purge(app: Harness) -> Counter[str]:
    assert app.svc.purger is not None
    return await app.svc.purger.run_once()


async def counts(app: Harness) -> tuple[Any, Any]:
    usage = await ok(await app.call("GET", "/v1/usage?month=2026-09", "admin"))
    since, until = "2026-09-01T00:00:00Z", "2026-09-08T00:00:00Z"
    daily = await ok(await app.call("GET", f"/v1/analytics/deliveries?since={since}&until={until}", "admin"))
    return usage, daily


async def test_a_purge_removes_old_notifications_in_chunks_keeps_recent_ones_and_every_count(
    start_app: StartApp,
) -> None:
    clock = FakeClock(T0)
    app = await start_app(clock=clock, retention={"chunk_rows": 2})
    old = await sent(app, 5, BIG)  # pages of their own, for the purge to free
    before = await counts(app)
    assert before[0]["notifications"] == 5
    clock.t = T0 + 89 * DAY
    recent = await sent(app, 1)
    assert (await purge(app))["notifications"] == 0, "nothing is 90 days old yet"
    clock.t = T0 + 91 * DAY
    assert (await purge(app))["notifications"] == 5
    for nid in old:
        assert (await app.call("GET", f"/v1/notifications/{nid}", "admin")).status == 404
    assert (await ok(await app.call("GET", f"/v1/notifications/{recent[0]}", "admin")))["status"] == "sent"
    assert await counts(app) == before, "usage and analytics count what was purged"
    assert (await purge(app))["notifications"] == 0, "a second pass finds nothing"
    metrics = await (await app.client.get("/metrics")).text()
    assert 'alertflow_retention_purged_rows_total{kind="notifications"} 5' in metrics
    if TEST_BACKEND == "sqlite":  # the freed pages went back to the file system
        assert [tuple(r) for r in await app.rows("PRAGMA auto_vacuum")] == [(2,)]  # INCREMENTAL
        assert [tuple(r) for r in await app.rows("PRAGMA freelist_count")] == [(0,)]


async def test_a_tenants_own_days_override_the_default_and_zero_keeps_forever(start_app: StartApp) -> None:
    clock = FakeClock(T0)
    app = await start_app(clock=clock)
    shown = await ok(await app.call("GET", "/v1/retention", "owner"))
    assert shown["notifications"] is None and shown["effective"]["notifications"] == 90
    assert (await app.call("GET", "/v1/retention", "admin")).status == 403
    await sent(app, 2)
    kept = await ok(await app.call("PUT", "/v1/retention", "owner", {**shown, "notifications": 0}))
    assert kept["effective"]["notifications"] == 0 and kept["effective"]["audit"] == 365
    clock.t = T0 + 1000 * DAY
    assert (await purge(app))["notifications"] == 0
    resp = await app.call("PUT", "/v1/retention", "owner", {"notifications": 10})
    assert (await ok(resp))["effective"]["notifications"] == 10
    await sent(app, 1)
    clock.t += 5 * DAY
    assert (await purge(app))["notifications"] == 2, "the 10 days apply; the 5-day-old one stays"
    audit = await ok(await app.call("GET", "/v1/audit?action=retention.update", "owner"))
    # The first change is 1005 days old: past the audit log's 365 days, it was purged.
    assert [e["after"]["notifications"] for e in audit["items"]] == [10]


async def test_inbox_items_and_audit_entries_go_by_their_own_days(start_app: StartApp) -> None:
    now = time.time()  # the inbox provider stamps items with the wall clock
    clock = FakeClock(now)
    app = await start_app(clock=clock)
    await ok(await app.call("PUT", "/v1/categories/ops", "admin", {"priority": "high"}))
    await ok(await app.call("PUT", "/v1/retention", "owner", {"notifications": 0, "inbox": 3, "audit": 5}))
    await sent(app, 2, INAPP)
    clock.t = now + 4 * DAY
    done = await purge(app)
    assert (done["inbox"], done["audit"], done["notifications"]) == (2, 0, 0)
    clock.t = now + 6 * DAY
    assert (await purge(app))["audit"] == 2  # the category's change and the retention's
    assert (await ok(await app.call("GET", "/v1/audit", "owner")))["items"] == []


async def test_bad_retention_days_are_refused_naming_the_field(app: Harness) -> None:
    for body, field in (({"inbox": -1}, "inbox"), ({"audit": 40000}, "audit"), ({"forever": 1}, "forever")):
        resp = await app.call("PUT", "/v1/retention", "owner", body)
        assert resp.status == 422, body
        assert (await resp.json())["errors"][0]["field"] == field

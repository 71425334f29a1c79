"""Fairness: higher priorities first, and within a priority tenants take turns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alertflow.delivery import queue
from alertflow.ids import new_id
from alertflow.storage import jobs as stored_jobs
from alertflow.storage import migrations
from alertflow.storage.database import connect
from tests.conftest import EMAIL, Script, StartApp, add_tenant
from tests.test_bulk import bulk, emails

OTP_EMAIL = {"email": {"subject": "Your code", "text": "123456"}}


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    c = connect(tmp_path / "q.db")
    migrations.upgrade(c)
    return c


def enqueue(conn: sqlite3.Connection, tenant: str, priority: str, count: int) -> None:
    for i in range(count):
        nid, did = new_id("ntf"), new_id("dlv")
        conn.execute(
            "INSERT INTO notifications (id, tenant_id, category, priority, created_at, recipient)"
            " VALUES (?, ?, 'default', ?, 0, '{}')",
            (nid, tenant, priority),
        )
        conn.execute(
            "INSERT INTO deliveries (id, notification_id, tenant_id, channel, status, created_at, updated_at)"
            " VALUES (?, ?, ?, 'email', 'queued', 0, 0)",
            (did, nid, tenant),
        )
        conn.execute(
            "INSERT INTO jobs (delivery_id, tenant_id, channel, priority, state, run_at)"
            " VALUES (?, ?, 'email', ?, ?, ?)",
            (did, tenant, queue.PRIORITIES[priority], queue.READY, i),
        )


def drain(conn: sqlite3.Connection, batch: int) -> list[tuple[str, str]]:
    """Claim until empty, as a pool does: each claim starts after the tenant served last."""
    order: list[tuple[str, str]] = []
    last = ""
    while jobs := stored_jobs.claim(conn, "email", batch, 100.0, 60.0, last):
        order += [(j.tenant_id, j.priority) for j in jobs]
        last = jobs[-1].tenant_id
    return order


def test_within_a_priority_tenants_take_turns_whatever_their_backlog(conn: sqlite3.Connection) -> None:
    enqueue(conn, "bulk-tenant", "low", 40)
    enqueue(conn, "small-tenant", "low", 4)
    order = [tenant for tenant, _ in drain(conn, batch=2)]
    assert order[:8] == ["bulk-tenant", "small-tenant"] * 4, order
    assert order[8:] == ["bulk-tenant"] * 36


def test_turns_rotate_across_claims_of_one(conn: sqlite3.Connection) -> None:
    for tenant in ("a", "b", "c"):
        enqueue(conn, tenant, "medium", 3)
    assert [tenant for tenant, _ in drain(conn, batch=1)] == ["a", "b", "c"] * 3


def test_a_higher_priority_is_claimed_before_any_lower_one(conn: sqlite3.Connection) -> None:
    enqueue(conn, "bulk-tenant", "low", 20)
    enqueue(conn, "other", "high", 3)
    enqueue(conn, "bulk-tenant", "medium", 2)
    order = [priority for _, priority in drain(conn, batch=4)]
    assert order == ["high"] * 3 + ["medium"] * 2 + ["low"] * 20


async def test_an_otp_published_mid_bulk_overtakes_it(start_app: StartApp, script: Script) -> None:
    script.set(delay=0.002)
    app = await start_app(providers={"email": script.provider()}, workers={"email": 2})
    await bulk(app, {"to": emails(1000), "content": EMAIL})
    await app.until(lambda: len(script.sends()) >= 20)
    otp = await app.publish({"to": {"email": "me@example.com"}, "content": OTP_EMAIL, "category": "otp"})
    otp_id = otp["notifications"][0]["id"]
    await app.until(lambda: any(s["notification_id"] == otp_id for s in script.sends()))
    sends = script.sends()
    position = next(i for i, s in enumerate(sends) if s["notification_id"] == otp_id)
    # Seen when the OTP was published, then at most the pool's two claims in flight, each of
    # its two slots and a pool's worth prefetched (workers.py): those may go before it.
    assert position <= 20 + 2 * (2 + 2), "only the sends already claimed may go before the OTP"
    assert len(sends) < 500, "the OTP waited for the bulk"


async def test_two_tenants_bulks_interleave(start_app: StartApp, script: Script) -> None:
    app = await start_app(providers={"email": script.provider()}, workers={"email": 1})
    other_id, other_keys = await add_tenant(app.svc, "other")
    await bulk(app, {"to": emails(300), "content": EMAIL})
    resp = await app.client.post(
        "/v1/notifications/bulk",
        json={"to": emails(300, start=1000), "content": EMAIL},
        headers={"Authorization": f"Bearer {other_keys['member']}"},
    )
    assert resp.status == 202
    await app.until(lambda: len(script.sends()) == 600)
    tenant_of = {r["id"]: r["tenant_id"] for r in await app.rows("SELECT id, tenant_id FROM notifications")}
    order = [tenant_of[s["notification_id"]] for s in script.sends()]
    first_other = order.index(other_id)
    window = order[first_other : first_other + 200]
    assert window.count(other_id) == 100, "once both had work queued, they should have taken turns"

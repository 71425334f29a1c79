"""Bulk sends: a batch is stored, fanned out in the background, counted, and cancellable."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from alertflow.cache import TtlCache
from alertflow.intake import batches, fanout
from tests.conftest import EMAIL, FakeClock, Harness, Script, StartApp, add_tenant

BULK = "/v1/notifications/bulk"


def emails(count: int, start: int = 0) -> list[dict[str, str]]:
    return [{"email": f"user{i}@example.com"} for i in range(start, start + count)]


async def bulk(app: Harness, body: dict[str, Any], role: str = "member", **kw: Any) -> dict[str, Any]:
    resp = await app.call("POST", BULK, role, body, **kw)
    assert resp.status == 202, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def batch(app: Harness, batch_id: str) -> dict[str, Any]:
    resp = await app.call("GET", f"/v1/batches/{batch_id}", "member")
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def finished(app: Harness, batch_id: str) -> dict[str, Any]:
    """Wait until the batch has fanned out and every delivery has settled."""
    found: dict[str, Any] = {}

    async def done() -> bool:
        found.update(await batch(app, batch_id))
        return found["status"] in ("completed", "cancelled", "failed")

    await app.until(done)
    return found


async def test_a_10k_bulk_completes_with_correct_batch_counts(app: Harness) -> None:
    accepted = await bulk(app, {"to": emails(10_000), "content": EMAIL})
    assert accepted["recipients"] == 10_000
    done = await finished(app, accepted["batch_id"])
    assert done["counts"] == {"sent": 10_000} and done["fanned_out"] == 10_000
    rows = await app.rows(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT recipient) AS people, MIN(priority) AS lo, MAX(priority) AS hi"
        " FROM notifications WHERE batch_id = ?",
        (accepted["batch_id"],),
    )
    assert dict(rows[0]) == {"n": 10_000, "people": 10_000, "lo": "low", "hi": "low"}, "bulk defaults to low"
    assert (await app.rows("SELECT COUNT(*) AS n FROM batch_chunks"))[0]["n"] == 0, "chunks are dropped once used"


async def test_preferences_suppression_and_priority_apply_as_in_a_publish(app: Harness) -> None:
    for user in ("ann", "bob"):
        resp = await app.call("PUT", f"/v1/users/{user}", "admin", {"email": f"{user}@example.com"})
        assert resp.status in (200, 201), await resp.text()
    prefs = {"categories": {"marketing": {"enabled": False}}}
    assert (await app.call("PUT", "/v1/users/bob/preferences", "admin", prefs)).status == 200
    to = [{"user_id": "ann"}, {"user_id": "bob"}, {"user_id": "nobody"}]
    accepted = await bulk(app, {"to": to, "content": EMAIL, "category": "marketing", "priority": "medium"})
    done = await finished(app, accepted["batch_id"])
    assert done["counts"] == {"sent": 1, "suppressed": 2}
    rows = await app.rows(
        "SELECT n.user_id, n.priority, d.status, d.reason FROM notifications n"
        " JOIN deliveries d ON d.notification_id = n.id WHERE n.batch_id = ? ORDER BY n.user_id",
        (accepted["batch_id"],),
    )
    assert [tuple(r) for r in rows] == [
        ("ann", "medium", "sent", None),
        ("bob", "medium", "suppressed", "preference:category:marketing"),
        ("nobody", "medium", "suppressed", "unknown_user"),
    ]


async def test_a_topic_bulk_reaches_its_subscribers_across_chunks(app: Harness) -> None:
    for user in ("u0001", "u0600", "u1199"):
        await app.call("PUT", f"/v1/users/{user}", "admin", {"email": f"{user}@example.com"})
    subscribers = {"user_ids": [f"u{i:04d}" for i in range(1200)]}
    assert (await app.call("PUT", "/v1/topics/all/subscribers", "admin", subscribers)).status == 200
    accepted = await bulk(app, {"topic": "all", "content": EMAIL})
    assert accepted["recipients"] == 1200
    done = await finished(app, accepted["batch_id"])
    assert done["counts"] == {"sent": 3, "suppressed": 1197}, "unknown users are suppressed, not dropped"
    sent = await app.rows(
        "SELECT n.user_id FROM notifications n JOIN deliveries d ON d.notification_id = n.id"
        " WHERE n.batch_id = ? AND d.status = 'sent' ORDER BY 1",
        (accepted["batch_id"],),
    )
    assert [r["user_id"] for r in sent] == ["u0001", "u0600", "u1199"]


async def test_a_topic_subscribers_preferences_and_contact_apply_as_in_a_publish(app: Harness) -> None:
    await app.call("PUT", "/v1/users/ann", "admin", {"email": "ann@example.com"})
    await app.call("PUT", "/v1/users/bob", "admin", {"email": "bob@example.com"})
    await app.call("PUT", "/v1/users/cyd", "admin", {"phone": "+14155550100"})
    prefs = {"categories": {"marketing": {"enabled": False}}}
    assert (await app.call("PUT", "/v1/users/bob/preferences", "admin", prefs)).status == 200
    subscribers = {"user_ids": ["ann", "bob", "cyd"]}
    assert (await app.call("PUT", "/v1/topics/news/subscribers", "admin", subscribers)).status == 200
    accepted = await bulk(app, {"topic": "news", "content": EMAIL, "category": "marketing"})
    await finished(app, accepted["batch_id"])
    rows = await app.rows(
        "SELECT n.user_id, d.status, d.reason FROM notifications n"
        " JOIN deliveries d ON d.notification_id = n.id WHERE n.batch_id = ? ORDER BY n.user_id",
        (accepted["batch_id"],),
    )
    assert [tuple(r) for r in rows] == [
        ("ann", "sent", None),
        ("bob", "suppressed", "preference:category:marketing"),
        ("cyd", "suppressed", "no_contact:email"),
    ]


async def test_the_same_idempotency_key_returns_the_first_batch(app: Harness) -> None:
    body = {"to": emails(3), "content": EMAIL}
    first = await bulk(app, body, headers={"Idempotency-Key": "promo-1"})
    again = await bulk(app, body, headers={"Idempotency-Key": "promo-1"})
    assert again == first
    await finished(app, first["batch_id"])
    assert (await app.rows("SELECT COUNT(*) AS n FROM notifications"))[0]["n"] == 3


async def test_cancel_stops_what_has_not_been_sent(start_app: StartApp, script: Script) -> None:
    script.set(delay=0.01)
    app = await start_app(providers={"email": script.provider()}, workers={"email": 1})
    accepted = await bulk(app, {"to": emails(300), "content": EMAIL})
    await app.until(lambda: len(script.sends()) >= 5)
    resp = await app.call("POST", f"/v1/batches/{accepted['batch_id']}/cancel", "member")
    assert resp.status == 200
    cancelled = await resp.json()
    assert cancelled["status"] == "cancelled" and cancelled["counts"]["cancelled"] >= 250
    done: dict[str, Any] = {}

    async def settled() -> bool:
        done.update(await batch(app, accepted["batch_id"]))
        return "sending" not in done["counts"]

    await app.until(settled)
    assert done["counts"]["sent"] + done["counts"]["cancelled"] == 300
    assert len(script.sends()) == done["counts"]["sent"], "nothing cancelled was sent"
    assert (await app.call("POST", f"/v1/batches/{accepted['batch_id']}/cancel", "member")).status == 200


async def test_a_batch_accepted_before_a_restart_is_fanned_out_after_it(start_app: StartApp) -> None:
    app = await start_app()
    assert app.svc.fanout is not None
    await app.svc.fanout.stop()  # as if the server died right after the 202
    accepted = await bulk(app, {"to": emails(1200), "content": EMAIL})
    assert (await batch(app, accepted["batch_id"]))["counts"] == {}

    app = await start_app(restart=app)
    done = await finished(app, accepted["batch_id"])
    assert done["counts"] == {"sent": 1200}


async def test_bulk_validation_names_the_field(app: Harness) -> None:
    to = emails(2000)
    to[1500] = {"email": "not-an-address"}
    for body, field in (
        ({"to": to, "content": EMAIL}, "to.1500.email"),
        ({"to": [{}] * 100_001, "content": EMAIL}, "to"),
        ({"topic": "nobody-here", "content": EMAIL}, "topic"),
        ({"to": emails(2), "content": {"email": {"subject": "Hi {{name}}", "text": "."}}}, "data.name"),
        ({"to": emails(2), "content": EMAIL, "category": "nope"}, "category"),
    ):
        resp = await app.call("POST", BULK, "member", body)
        assert resp.status == 422, await resp.text()
        assert field in [e["field"] for e in (await resp.json())["errors"]], await resp.text()
    assert (await app.rows("SELECT COUNT(*) AS n FROM batches"))[0]["n"] == 0, "a refused bulk leaves nothing"


async def test_a_bulk_body_over_its_own_limit_is_413(start_app: StartApp) -> None:
    app = await start_app(server={"max_bulk_body_mb": 0.01})
    resp = await app.call("POST", BULK, "member", {"to": emails(1000), "content": EMAIL})
    assert resp.status == 413
    assert (await resp.json())["type"] == "/docs#problem-body-too-large"


async def test_another_tenants_batch_is_404(app: Harness) -> None:
    accepted = await bulk(app, {"to": emails(2), "content": EMAIL})
    _, keys = await add_tenant(app.svc, "other")
    headers = {"Authorization": f"Bearer {keys['owner']}"}
    for method, path in (("GET", ""), ("POST", "/cancel")):
        resp = await app.client.request(method, f"/v1/batches/{accepted['batch_id']}{path}", headers=headers)
        assert resp.status == 404
    assert (await finished(app, accepted["batch_id"]))["counts"] == {"sent": 2}


async def test_a_batch_whose_template_is_deleted_before_its_fan_out_fails_saying_why(start_app: StartApp) -> None:
    app = await start_app()
    template = {"key": "promo", "channels": {"email": {"subject": "Sale", "text": "50% off"}}}
    assert (await app.call("POST", "/v1/templates", "admin", template)).status == 201
    assert app.svc.fanout is not None
    await app.svc.fanout.stop()
    accepted = await bulk(app, {"to": emails(3), "template": "promo"})
    assert (await app.call("DELETE", "/v1/templates/promo", "admin")).status == 204

    app = await start_app(restart=app)
    failed = await finished(app, accepted["batch_id"])
    assert failed["status"] == "failed" and "promo" in failed["error"]
    assert failed["counts"] == {} and (await app.rows("SELECT COUNT(*) AS n FROM batch_chunks"))[0]["n"] == 0


async def fail_one_delivery(app: Harness, batch_id: str) -> None:
    await app.svc.database.write(
        lambda conn: conn.execute(
            "UPDATE deliveries SET status = 'failed' WHERE id = (SELECT id FROM deliveries WHERE batch_id = ? LIMIT 1)",
            (batch_id,),
        )
    )


async def test_a_big_batchs_progress_is_counted_at_most_once_a_second(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "COUNTS_CACHED_FROM", 3)  # "big", for a test
    clock = FakeClock(0.0)
    app.svc.batch_counts = TtlCache(ttl=1.0, clock=clock.now)
    accepted = await bulk(app, {"to": emails(3), "content": EMAIL})

    async def settled() -> bool:
        clock.t += 2  # every poll counts afresh
        return (await batch(app, accepted["batch_id"]))["status"] == "completed"

    await app.until(settled)
    assert (await batch(app, accepted["batch_id"]))["counts"] == {"sent": 3}
    await fail_one_delivery(app, accepted["batch_id"])
    clock.t += 0.9
    assert (await batch(app, accepted["batch_id"]))["counts"] == {"sent": 3}, "within the second: the last count"
    clock.t += 0.2
    assert (await batch(app, accepted["batch_id"]))["counts"] == {"sent": 2, "failed": 1}


async def test_a_smaller_batch_is_counted_on_every_view(app: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batches, "COUNTS_CACHED_FROM", 3)
    app.svc.batch_counts = TtlCache(ttl=1.0, clock=FakeClock(0.0).now)  # never expires
    accepted = await bulk(app, {"to": emails(2), "content": EMAIL})
    assert (await finished(app, accepted["batch_id"]))["counts"] == {"sent": 2}
    await fail_one_delivery(app, accepted["batch_id"])
    assert (await batch(app, accepted["batch_id"]))["counts"] == {"sent": 1, "failed": 1}


async def test_a_step_whose_write_fails_is_redone_from_the_committed_cursor(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_apply, calls = fanout._apply, []

    def second_write_fails(conn: sqlite3.Connection, step: Any, now: float) -> bool:
        calls.append(step.start)
        if len(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return real_apply(conn, step, now)

    monkeypatch.setattr(fanout, "_apply", second_write_fails)
    monkeypatch.setattr(fanout, "RETRY_SECONDS", 0.05)
    accepted = await bulk(app, {"to": emails(3500), "content": EMAIL})
    done = await finished(app, accepted["batch_id"])
    assert done["counts"] == {"sent": 3500}
    rows = await app.rows(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT recipient) AS distinct_n FROM notifications WHERE batch_id = ?",
        (accepted["batch_id"],),
    )
    assert (rows[0]["n"], rows[0]["distinct_n"]) == (3500, 3500), "each recipient exactly once"
    assert calls.count(calls[1]) >= 2, "the failed step was written again"

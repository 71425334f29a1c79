"""Fallback: an in-app (or push) notification not read (or delivered) in time goes out on the
fallback channels, once; reading it first cancels the fallback. The wait is a queue timer,
so it survives a restart."""

from __future__ import annotations

from typing import Any

from tests.conftest import FakeClock, Harness, StartApp

NOON = 1_796_126_400.0  # 2026-12-01T12:00:00Z
CONTENT = {
    "inapp": {"title": "Build failed", "body": "main is red"},
    "email": {"subject": "Build failed", "text": "main is red (you did not see it in the app)"},
}
FALLBACK = {"after_seconds": 300, "unless": "read", "channels": ["email"]}


async def started(start_app: StartApp, clock: FakeClock) -> Harness:
    app = await start_app(clock=clock)
    await app.call("PUT", "/v1/users/ann", "admin", {"email": "ann@example.com"})
    return app


async def publish(app: Harness, **fallback: Any) -> str:
    body = {"to": {"user_id": "ann"}, "content": CONTENT, "channels": ["inapp"], "fallback": {**FALLBACK, **fallback}}
    return str((await app.publish(body))["notifications"][0]["id"])


def by_channel(notification: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["channel"]: d for d in notification["deliveries"]}


async def fire_at(app: Harness, clock: FakeClock, t: float) -> None:
    clock.t = t
    assert app.svc.pools is not None
    app.svc.pools.scheduled()


async def test_an_unread_in_app_notification_falls_back_to_email_once(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await started(start_app, clock)
    nid = await publish(app)
    waiting = by_channel(await app.settled(nid, ("sent", "scheduled")))
    assert waiting["inapp"]["status"] == "sent"
    assert waiting["email"]["status"] == "scheduled"
    assert waiting["email"]["reason"] == "fallback: sent if inapp is not read within 300 s"
    await fire_at(app, clock, NOON + 299)
    assert by_channel(await app.notification(nid))["email"]["status"] == "scheduled"
    await fire_at(app, clock, NOON + 300)
    email = by_channel(await app.settled(nid))["email"]
    assert email["status"] == "sent"
    assert [(a["outcome"], a["error"]) for a in email["attempts"]] == [
        ("fallback", "inapp not read within 300 s"),
        ("sent", None),
    ]
    resp = await app.call("GET", "/v1/outbox?channel=email")
    assert [i["content"]["subject"] for i in (await resp.json())["items"]] == ["Build failed"]


async def test_reading_the_in_app_item_first_cancels_the_fallback(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await started(start_app, clock)
    nid = await publish(app)
    await app.settled(nid, ("sent", "scheduled"))
    items = (await (await app.call("GET", "/v1/users/ann/inbox")).json())["items"]
    assert (await app.call("POST", f"/v1/users/ann/inbox/{items[0]['id']}/read")).status == 200
    await fire_at(app, clock, NOON + 300)
    email = by_channel(await app.settled(nid))["email"]
    assert (email["status"], email["reason"]) == ("cancelled", "fallback not needed: inapp was read first")
    resp = await app.call("GET", "/v1/outbox?channel=email")
    assert (await resp.json())["items"] == []


async def test_unless_delivered_is_cancelled_by_the_in_app_item_reaching_the_browser(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await started(start_app, clock)
    nid = await publish(app, unless="delivered")
    await app.settled(nid, ("sent", "scheduled"))
    items = (await (await app.call("GET", "/v1/users/ann/inbox")).json())["items"]
    await app.call("POST", f"/v1/users/ann/inbox/{items[0]['id']}/read")  # read: delivered too
    await fire_at(app, clock, NOON + 300)
    email = by_channel(await app.settled(nid))["email"]
    assert (email["status"], email["reason"]) == ("cancelled", "fallback not needed: inapp was delivered first")


async def test_a_waiting_fallback_survives_a_restart(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await started(start_app, clock)
    nid = await publish(app)
    await app.settled(nid, ("sent", "scheduled"))
    app = await start_app(clock=clock, restart=app)
    await fire_at(app, clock, NOON + 300)
    assert by_channel(await app.settled(nid))["email"]["status"] == "sent"


async def test_a_fallback_channel_the_user_opted_out_of_is_suppressed(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await started(start_app, clock)
    await app.call("PUT", "/v1/users/ann/preferences", "admin", {"channels": {"email": False}})
    nid = await publish(app)
    email = by_channel(await app.notification(nid))["email"]
    assert (email["status"], email["reason"]) == ("suppressed", "preference:channel:email")


async def test_bad_fallback_options_are_422s_naming_the_field(start_app: StartApp) -> None:
    app = await started(start_app, FakeClock(NOON))
    base = {"to": {"user_id": "ann"}, "content": CONTENT, "channels": ["inapp"]}
    cases = [
        ({"fallback": {**FALLBACK, "channels": ["pager"]}}, "fallback.channels.0"),
        ({"fallback": {**FALLBACK, "channels": ["sms"]}}, "fallback.channels.0"),  # no sms part
        ({"fallback": {**FALLBACK, "channels": ["inapp"]}}, "fallback.channels.0"),  # already a channel
        ({"fallback": {**FALLBACK, "channels": []}}, "fallback.channels"),
        ({"fallback": {**FALLBACK, "after_seconds": 0}}, "fallback.after_seconds"),
        ({"fallback": {**FALLBACK, "unless": "opened"}}, "fallback.unless"),
        ({"channels": ["email"], "fallback": {**FALLBACK, "channels": ["inapp"]}}, "fallback.unless"),
        ({"fallback": FALLBACK, "digest": {"key": "k", "window_seconds": 60}}, "fallback"),
    ]
    for options, field in cases:
        resp = await app.call("POST", "/v1/notifications/publish", body={**base, **options})
        assert resp.status == 422, options
        assert field in [e["field"] for e in (await resp.json())["errors"]], (options, await resp.text())
    assert await app.rows("SELECT * FROM notifications") == []


async def test_on_postgresql_a_fallback_is_sent_or_cancelled_as_on_sqlite(
    start_app: StartApp, postgres_url: str
) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock, storage={"url": postgres_url})
    await app.call("PUT", "/v1/users/ann", "admin", {"email": "ann@example.com"})
    unread, read = await publish(app), await publish(app)
    for nid in (unread, read):
        await app.settled(nid, ("sent", "scheduled"))
    items = (await (await app.call("GET", "/v1/users/ann/inbox")).json())["items"]
    [read_item] = [
        i for i in items if i["id"] == by_channel(await app.notification(read))["inapp"]["provider_message_id"]
    ]
    await app.call("POST", f"/v1/users/ann/inbox/{read_item['id']}/read")
    await fire_at(app, clock, NOON + 300)
    assert by_channel(await app.settled(unread))["email"]["status"] == "sent"
    assert by_channel(await app.settled(read))["email"]["status"] == "cancelled"

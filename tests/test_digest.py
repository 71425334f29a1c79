"""Digests: events for one recipient and key inside a window go out as one notification,
whose template sees them all; the window is stored, so it closes after a restart too."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import FakeClock, Harness, StartApp

NOON = 1_796_126_400.0  # 2026-12-01T12:00:00Z
DIGEST_EMAIL = {
    "email": {
        "subject": "{{ events | length }} new comments on {{ post }}",
        "text": "{% for e in events %}{{ e.who }};{% endfor %}",
    }
}
DIGEST = {"key": "post42-comments", "window_seconds": 600}


async def comment(app: Harness, who: str, to: str = "ann@example.com", **digest: Any) -> dict[str, Any]:
    body = {"to": {"email": to}, "content": DIGEST_EMAIL, "data": {"post": "post 42", "who": who}}
    out = await app.publish({**body, "digest": {**DIGEST, **digest}})
    return out["notifications"][0]  # type: ignore[no-any-return]


async def outbox(app: Harness) -> list[tuple[str, str, str]]:
    resp = await app.call("GET", "/v1/outbox?channel=email")
    return [
        (i["recipient"]["email"], i["content"]["subject"], i["content"]["text"]) for i in (await resp.json())["items"]
    ]


def fire(app: Harness) -> None:
    assert app.svc.pools is not None
    app.svc.pools.scheduled()


async def test_events_in_a_window_go_out_as_one_notification_listing_them_oldest_first(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock)
    events = []
    for i, who in enumerate(("ann", "bob", "cy")):
        clock.t = NOON + i * 100
        events.append(await comment(app, who))
    assert {e["status"] for e in events} == {"digested"}
    digest_id = events[0]["digest_id"]
    assert {e["digest_id"] for e in events} == {digest_id}
    for e in events:
        deliveries = (await app.notification(e["id"]))["deliveries"]
        assert [(d["status"], d["reason"]) for d in deliveries] == [("digested", f"digest:{digest_id}")]
    digest = await app.notification(digest_id)
    assert digest["status"] == "scheduled" and digest["options"] == {"digest_of": DIGEST["key"]}

    clock.t = NOON + 599  # the window runs from the first event
    fire(app)
    assert (await app.notification(digest_id))["status"] == "scheduled"
    clock.t = NOON + 600
    fire(app)
    sent = await app.settled(digest_id)
    assert sent["status"] == "sent" and sent["digest"] == {"key": DIGEST["key"], "events": 3}
    assert await outbox(app) == [("ann@example.com", "3 new comments on post 42", "ann;bob;cy;")]
    assert (await app.notification(events[0]["id"]))["status"] == "digested"


async def test_recipients_and_keys_have_windows_of_their_own_and_a_closed_window_opens_a_new_one(
    start_app: StartApp,
) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock)
    ann, bob = await comment(app, "x"), await comment(app, "y", to="bob@example.com")
    other_key = await comment(app, "z", key="post43-comments")
    assert len({ann["digest_id"], bob["digest_id"], other_key["digest_id"]}) == 3
    clock.t = NOON + 600
    fire(app)
    for n in (ann, bob, other_key):
        assert (await app.settled(n["digest_id"]))["status"] == "sent"
    later = await comment(app, "w")
    assert later["digest_id"] != ann["digest_id"]
    assert (await app.notification(later["digest_id"]))["status"] == "scheduled"


async def test_max_events_sends_the_digest_at_once_and_the_next_event_starts_another(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock)
    first = [await comment(app, who, max_events=3) for who in ("a", "b", "c")]
    assert (await app.settled(first[0]["digest_id"]))["status"] == "sent"  # no clock moved
    assert await outbox(app) == [("ann@example.com", "3 new comments on post 42", "a;b;c;")]
    fourth = await comment(app, "d", max_events=3)
    assert fourth["digest_id"] != first[0]["digest_id"]


async def test_an_open_digest_survives_a_restart_and_closes_after_it(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock)
    first = await comment(app, "before")
    app = await start_app(clock=clock, restart=app)
    second = await comment(app, "after")
    assert second["digest_id"] == first["digest_id"]
    clock.t = NOON + 600
    fire(app)
    assert (await app.settled(first["digest_id"]))["status"] == "sent"
    assert await outbox(app) == [("ann@example.com", "2 new comments on post 42", "before;after;")]


async def test_a_digest_honours_quiet_hours_and_preferences(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock)
    await app.call("PUT", "/v1/users/ann", "admin", {"email": "ann@example.com", "phone": "+15550100"})
    prefs = {"channels": {"sms": False}, "quiet_hours": {"start": "12:05", "end": "13:00", "timezone": "UTC"}}
    resp = await app.call("PUT", "/v1/users/ann/preferences", "admin", prefs)
    assert resp.status == 200, await resp.text()
    content = {**DIGEST_EMAIL, "sms": {"body": "{{ events | length }} comments"}}
    body = {"to": {"user_id": "ann"}, "content": content, "data": {"post": "p", "who": "a"}, "digest": DIGEST}
    out = (await app.publish(body))["notifications"][0]
    assert [(d["channel"], d["status"]) for d in (await app.notification(out["id"]))["deliveries"]] == [
        ("email", "digested"),
        ("sms", "suppressed"),
    ]
    digest = await app.notification(out["digest_id"])
    assert [d["channel"] for d in digest["deliveries"]] == ["email"]
    clock.t = NOON + 600  # the window closes inside the quiet hours: the digest waits for their end
    fire(app)
    assert (await app.notification(out["digest_id"]))["status"] == "scheduled"
    clock.t = NOON + 3600
    fire(app)
    assert (await app.settled(out["digest_id"]))["status"] == "sent"


async def test_bad_digest_options_are_422s_naming_the_field(app: Harness) -> None:
    base = {"to": {"email": "a@example.com"}, "content": DIGEST_EMAIL, "data": {"post": "p", "who": "w"}}
    cases = [
        ({"digest": {**DIGEST, "window_seconds": 0}}, "digest.window_seconds"),
        ({"digest": {**DIGEST, "max_events": 10**9}}, "digest.max_events"),
        ({"digest": {**DIGEST, "max_events": 1}}, "digest.max_events"),
        ({"digest": {"window_seconds": 60}}, "digest.key"),
        ({"digest": {**DIGEST}, "send_at": "2027-01-01T00:00:00Z"}, "digest"),
        ({"digest": "daily"}, "digest"),
    ]
    for options, field in cases:
        resp = await app.call("POST", "/v1/notifications/publish", body={**base, **options})
        assert resp.status == 422, options
        assert field in [e["field"] for e in (await resp.json())["errors"]], (options, await resp.text())
    # Without a digest, a template reading events lacks it.
    resp = await app.call("POST", "/v1/notifications/publish", body=base)
    assert resp.status == 422 and "events" in await resp.text()
    assert await app.rows("SELECT * FROM notifications") == []


async def test_concurrent_events_all_join_one_window_and_none_is_lost(start_app: StartApp) -> None:
    app = await start_app(clock=FakeClock(NOON))
    events = await asyncio.gather(*(comment(app, f"w{i}", max_events=20) for i in range(20)))
    assert len({e["digest_id"] for e in events}) == 1
    assert (await app.settled(events[0]["digest_id"]))["status"] == "sent"
    [(_, subject, text)] = await outbox(app)
    assert subject == "20 new comments on post 42"
    assert sorted(text.rstrip(";").split(";")) == sorted(f"w{i}" for i in range(20))


async def test_a_templates_digest_default_collects_its_publishes(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock)
    template = {"key": "comments", "channels": DIGEST_EMAIL, "options": {"digest": DIGEST}}
    assert (await app.call("POST", "/v1/templates", "admin", template)).status == 201
    body = {"to": {"email": "ann@example.com"}, "template": "comments", "data": {"post": "post 42"}}
    first = (await app.publish({**body, "data": {"post": "post 42", "who": "a"}}))["notifications"][0]
    second = (await app.publish({**body, "data": {"post": "post 42", "who": "b"}}))["notifications"][0]
    assert first["digest_id"] == second["digest_id"]
    clock.t = NOON + 600
    fire(app)
    assert (await app.settled(first["digest_id"]))["status"] == "sent"
    assert await outbox(app) == [("ann@example.com", "2 new comments on post 42", "a;b;")]


async def test_on_postgresql_a_digest_survives_a_restart_too(start_app: StartApp, postgres_url: str) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock, storage={"url": postgres_url})
    first = await comment(app, "before")
    app = await start_app(clock=clock, restart=app, storage={"url": postgres_url})
    assert (await comment(app, "after"))["digest_id"] == first["digest_id"]
    clock.t = NOON + 600
    fire(app)
    assert (await app.settled(first["digest_id"]))["status"] == "sent"
    assert await outbox(app) == [("ann@example.com", "2 new comments on post 42", "before;after;")]

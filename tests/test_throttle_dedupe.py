"""Throttle and dedupe: past a limit, or a repeat inside a window, a delivery is suppressed
with its reason; counted in the writer, so concurrent publishes never both pass."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import EMAIL, FakeClock, Harness, StartApp

NOON = 1_796_126_400.0  # 2026-12-01T12:00:00Z


async def send(app: Harness, to: str = "ann@example.com", **options: Any) -> dict[str, Any]:
    out = await app.publish({"to": {"email": to}, "content": EMAIL, **options})
    return out["notifications"][0]  # type: ignore[no-any-return]


async def reasons(app: Harness, nid: str) -> list[tuple[str, str | None]]:
    return [(d["status"], d["reason"]) for d in (await app.notification(nid))["deliveries"]]


async def test_past_the_throttle_limit_deliveries_are_suppressed_as_throttled_until_the_window_ends(
    start_app: StartApp,
) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock)
    throttle = {"key": "cpu-alert", "limit": 2, "window_seconds": 3600}
    first = [await send(app, throttle=throttle) for _ in range(3)]
    assert [n["status"] for n in first] == ["queued", "queued", "suppressed"]
    assert await reasons(app, first[2]["id"]) == [("suppressed", "throttled")]
    # Another recipient and another key have counts of their own.
    assert (await send(app, "bob@example.com", throttle=throttle))["status"] == "queued"
    assert (await send(app, throttle={**throttle, "key": "disk"}))["status"] == "queued"
    clock.t = NOON + 3599
    assert (await send(app, throttle=throttle))["status"] == "suppressed"
    clock.t = NOON + 3600  # the window has ended: a new one opens
    assert (await send(app, throttle=throttle))["status"] == "queued"


async def test_a_repeat_inside_the_dedupe_window_is_suppressed_as_duplicate(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock)
    dedupe = {"key": "order-7-shipped", "window_seconds": 300}
    assert (await send(app, dedupe=dedupe))["status"] == "queued"
    again = await send(app, dedupe=dedupe)
    assert again["status"] == "suppressed"
    assert await reasons(app, again["id"]) == [("suppressed", "duplicate")]
    assert (await send(app, "bob@example.com", dedupe=dedupe))["status"] == "queued"
    clock.t = NOON + 300
    assert (await send(app, dedupe=dedupe))["status"] == "queued"


async def test_concurrent_publishes_pass_the_throttle_exactly_limit_times(app: Harness) -> None:
    throttle = {"key": "burst", "limit": 3, "window_seconds": 60}
    found = await asyncio.gather(*(send(app, throttle=throttle) for _ in range(12)))
    assert sorted(n["status"] for n in found) == ["queued"] * 3 + ["suppressed"] * 9


async def test_a_users_repeat_is_a_duplicate_whichever_way_it_is_listed(app: Harness) -> None:
    await app.call("PUT", "/v1/users/ann", "admin", {"email": "ann@example.com"})
    dedupe = {"key": "k", "window_seconds": 60}
    out = await app.publish({"to": [{"user_id": "ann"}, {"user_id": "ann"}], "content": EMAIL, "dedupe": dedupe})
    assert [n["status"] for n in out["notifications"]] == ["queued", "suppressed"]


async def test_a_preference_suppression_stays_as_it_was_and_still_counts(app: Harness) -> None:
    await app.call("PUT", "/v1/users/ann", "admin", {"email": "ann@example.com"})
    await app.call("PUT", "/v1/users/ann/preferences", "admin", {"channels": {"email": False}})
    body = {"to": {"user_id": "ann"}, "content": EMAIL, "dedupe": {"key": "k", "window_seconds": 60}}
    out = (await app.publish(body))["notifications"][0]
    assert await reasons(app, out["id"]) == [("suppressed", "preference:channel:email")]


async def test_bad_throttle_and_dedupe_options_are_422s_naming_the_field(app: Harness) -> None:
    cases = [
        ({"throttle": {"key": "k", "limit": 0, "window_seconds": 60}}, "throttle.limit"),
        ({"throttle": {"key": "k", "limit": 1, "window_seconds": 0}}, "throttle.window_seconds"),
        ({"throttle": {"key": "", "limit": 1, "window_seconds": 60}}, "throttle.key"),
        ({"dedupe": {"key": "k", "window_seconds": 10**9}}, "dedupe.window_seconds"),
        ({"dedupe": {"key": "k"}}, "dedupe.window_seconds"),
        ({"dedupe": {"key": "k", "window_seconds": 5, "extra": 1}}, "dedupe.extra"),
    ]
    for options, field in cases:
        resp = await app.call(
            "POST", "/v1/notifications/publish", body={"to": {"email": "a@example.com"}, "content": EMAIL, **options}
        )
        assert resp.status == 422, options
        assert field in [e["field"] for e in (await resp.json())["errors"]], (options, await resp.text())
    assert await app.rows("SELECT * FROM notifications") == []


async def test_a_bulk_send_refuses_publish_options(app: Harness) -> None:
    body = {"to": [{"email": "a@example.com"}], "content": EMAIL, "dedupe": {"key": "k", "window_seconds": 5}}
    resp = await app.call("POST", "/v1/notifications/bulk", body=body)
    assert resp.status == 422
    assert "publish option" in await resp.text()


async def test_a_categorys_throttle_is_the_default_and_a_publishs_own_wins(app: Harness) -> None:
    category = {"priority": "medium", "options": {"throttle": {"key": "cpu", "limit": 1, "window_seconds": 60}}}
    resp = await app.call("PUT", "/v1/categories/alerts", "admin", category)
    assert resp.status == 200 and (await resp.json())["options"] == category["options"]
    assert (await send(app, category="alerts"))["status"] == "queued"
    again = await send(app, category="alerts")
    assert again["status"] == "suppressed"
    assert (await app.notification(again["id"]))["options"]["throttle"]["limit"] == 1
    own = {"key": "cpu", "limit": 5, "window_seconds": 60}
    assert (await send(app, category="alerts", throttle=own))["status"] == "queued"
    bad = {"priority": "medium", "options": {"throttle": {"key": "cpu", "limit": 0, "window_seconds": 60}}}
    resp = await app.call("PUT", "/v1/categories/alerts", "admin", bad)
    assert resp.status == 422
    assert [e["field"] for e in (await resp.json())["errors"]] == ["options.throttle.limit"]


async def test_a_templates_dedupe_is_the_default_for_its_publishes(app: Harness) -> None:
    template = {"key": "shipped", "channels": EMAIL, "options": {"dedupe": {"key": "order", "window_seconds": 60}}}
    resp = await app.call("POST", "/v1/templates", "admin", template)
    assert resp.status == 201, await resp.text()
    version = await (await app.call("GET", "/v1/templates/shipped/versions/1")).json()
    assert version["options"] == template["options"]
    body = {"to": {"email": "ann@example.com"}, "template": "shipped"}
    statuses = [(await app.publish(body))["notifications"][0]["status"] for _ in range(2)]
    assert statuses == ["queued", "suppressed"]
    # A bulk takes no options, its template's defaults neither.
    resp = await app.call("POST", "/v1/notifications/bulk", body={**body, "to": [{"email": "ann@example.com"}]})
    assert resp.status == 202


async def test_on_postgresql_concurrent_publishes_pass_the_throttle_exactly_limit_times(
    start_app: StartApp, postgres_url: str
) -> None:
    app = await start_app(storage={"url": postgres_url})
    throttle = {"key": "burst", "limit": 3, "window_seconds": 60}
    found = await asyncio.gather(*(send(app, throttle=throttle) for _ in range(12)))
    assert sorted(n["status"] for n in found) == ["queued"] * 3 + ["suppressed"] * 9

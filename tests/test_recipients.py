"""Recipients and their choices: preferences, categories, quiet hours, topics, erasure."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import EMAIL, SMS, FakeClock, Harness, StartApp, add_tenant

ANN = {"email": "ann@example.com", "phone": "+15550000001", "timezone": "Europe/Berlin", "name": "Ann"}


async def put_user(app: Harness, user_id: str = "ann", **fields: object) -> None:
    resp = await app.call("PUT", f"/v1/users/{user_id}", "admin", {**ANN, **fields})
    assert resp.status == 200, await resp.text()


async def set_prefs(app: Harness, body: dict[str, object], user_id: str | None = "ann") -> int:
    path = f"/v1/users/{user_id}/preferences" if user_id else "/v1/preferences/defaults"
    return (await app.call("PUT", path, "admin", body)).status


async def deliveries(app: Harness, body: dict[str, object]) -> dict[str, dict[str, object]]:
    nid = (await app.publish(body))["notifications"][0]["id"]
    done = await app.settled(nid)
    return {d["channel"]: d for d in done["deliveries"]}


async def test_an_opted_out_category_is_suppressed_with_its_reason(app: Harness) -> None:
    await put_user(app)
    assert await set_prefs(app, {"categories": {"marketing": {"enabled": False}}}) == 200
    got = await deliveries(app, {"to": {"user_id": "ann"}, "content": EMAIL, "category": "marketing"})
    assert got["email"]["status"] == "suppressed" and got["email"]["reason"] == "preference:category:marketing"
    got = await deliveries(app, {"to": {"user_id": "ann"}, "content": EMAIL, "category": "alerts"})
    assert got["email"]["status"] == "sent"


async def test_a_channel_turned_off_is_suppressed_while_the_others_are_sent(app: Harness) -> None:
    await put_user(app)
    await set_prefs(app, {"channels": {"sms": False}})
    got = await deliveries(app, {"to": {"user_id": "ann"}, "content": {**EMAIL, **SMS}, "category": "alerts"})
    assert got["sms"]["status"] == "suppressed" and got["sms"]["reason"] == "preference:channel:sms"
    assert got["email"]["status"] == "sent"


async def test_a_category_channel_pair_can_be_turned_off(app: Harness) -> None:
    await put_user(app)
    await set_prefs(app, {"categories": {"alerts": {"channels": {"email": False}}}})
    got = await deliveries(app, {"to": {"user_id": "ann"}, "content": {**EMAIL, **SMS}, "category": "alerts"})
    assert got["email"]["reason"] == "preference:category:alerts:channel:email"
    assert got["sms"]["status"] == "sent"


async def test_otp_cannot_be_turned_off_and_goes_out_even_with_every_channel_off(app: Harness) -> None:
    await put_user(app)
    resp = await app.call("PUT", "/v1/users/ann/preferences", "admin", {"categories": {"otp": {"enabled": False}}})
    assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == "categories.otp"
    assert await set_prefs(app, {"channels": {"email": False, "sms": False}}) == 200
    got = await deliveries(app, {"to": {"user_id": "ann"}, "content": {**EMAIL, **SMS}, "category": "otp"})
    assert got["email"]["status"] == "sent" and got["sms"]["status"] == "sent"


async def test_tenant_defaults_apply_until_the_user_overrides_them(app: Harness) -> None:
    await put_user(app)
    assert await set_prefs(app, {"categories": {"marketing": {"enabled": False}}}, user_id=None) == 200
    body = {"to": {"user_id": "ann"}, "content": EMAIL, "category": "marketing"}
    assert (await deliveries(app, body))["email"]["status"] == "suppressed"
    await set_prefs(app, {"categories": {"marketing": {"enabled": True}}})
    assert (await deliveries(app, body))["email"]["status"] == "sent"
    defaults = await (await app.call("GET", "/v1/preferences/defaults")).json()
    assert defaults["categories"]["marketing"] == {"enabled": False, "channels": {}}


async def test_preferences_are_validated_and_need_an_existing_user(app: Harness) -> None:
    assert await set_prefs(app, {"channels": {"sms": False}}, user_id="ghost") == 404
    await put_user(app)
    resp = await app.call("PUT", "/v1/users/ann/preferences", "admin", {"channels": {"fax": False}})
    assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == "channels"
    resp = await app.call("PUT", "/v1/users/ann/preferences", "admin", {"categories": {"nope": {"enabled": False}}})
    assert resp.status == 422
    assert (await app.call("PUT", "/v1/users/ann/preferences", "member", {})).status == 403


async def test_quiet_hours_defer_low_priority_but_not_high(start_app: StartApp) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    clock = FakeClock(datetime(2026, 12, 1, 23, 30, tzinfo=berlin).timestamp())
    app = await start_app(clock=clock)
    await put_user(app)
    await set_prefs(app, {"quiet_hours": {"start": "22:00", "end": "07:00"}})
    low = await app.publish({"to": {"user_id": "ann"}, "content": EMAIL, "category": "marketing"})
    high = await app.publish({"to": {"user_id": "ann"}, "content": EMAIL, "category": "otp"})
    assert low["notifications"][0]["status"] == "scheduled"
    assert (await app.settled(high["notifications"][0]["id"]))["status"] == "sent"
    held = (await app.notification(low["notifications"][0]["id"]))["deliveries"][0]
    assert held["status"] == "scheduled" and held["reason"] == "quiet_hours"

    clock.t = datetime(2026, 12, 2, 7, 0, 1, tzinfo=berlin).timestamp()
    assert app.svc.pools is not None
    app.svc.pools.scheduled()
    assert (await app.settled(low["notifications"][0]["id"]))["status"] == "sent"


async def test_a_custom_category_sets_priority_and_unknown_ones_are_refused(app: Harness) -> None:
    resp = await app.call("PUT", "/v1/categories/billing", "admin", {"priority": "high", "opt_out_allowed": False})
    assert resp.status == 200
    out = await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL, "category": "billing"})
    assert (await app.notification(out["notifications"][0]["id"]))["priority"] == "high"
    listed = {c["key"] for c in (await (await app.call("GET", "/v1/categories")).json())["items"]}
    assert {"otp", "marketing", "billing"} <= listed
    resp = await app.call(
        "POST",
        "/v1/notifications/publish",
        body={"to": {"email": "a@example.com"}, "content": EMAIL, "category": "nope"},
    )
    assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == "category"
    assert (await app.call("PUT", "/v1/categories/Bad Key!", "admin", {})).status == 422
    assert (await app.call("PUT", "/v1/categories/x", "member", {})).status == 403
    assert (await app.call("DELETE", "/v1/categories/billing", "admin")).status == 204
    assert (await app.call("DELETE", "/v1/categories/billing", "admin")).status == 404


async def test_an_unknown_user_is_suppressed_not_dropped(app: Harness) -> None:
    got = await deliveries(app, {"to": {"user_id": "ghost"}, "content": EMAIL})
    assert got["email"]["status"] == "suppressed" and got["email"]["reason"] == "unknown_user"


async def test_a_topic_publish_reaches_exactly_its_subscribers(app: Harness) -> None:
    for user in ("ann", "bob", "cy"):
        await put_user(app, user, email=f"{user}@example.com")
    resp = await app.call("PUT", "/v1/topics/ops/subscribers", "admin", {"user_ids": ["ann", "bob"]})
    assert (await resp.json())["count"] == 2
    out = await app.publish({"topic": "ops", "content": EMAIL})
    assert sorted(n["recipient"]["user_id"] for n in out["notifications"]) == ["ann", "bob"]
    for n in out["notifications"]:
        await app.settled(n["id"])
    outbox = (await (await app.call("GET", "/v1/outbox")).json())["items"]
    assert sorted(o["recipient"]["email"] for o in outbox) == ["ann@example.com", "bob@example.com"]
    await app.call("PUT", "/v1/topics/ops/subscribers", "admin", {"user_ids": ["cy"], "mode": "add"})
    got = await (await app.call("GET", "/v1/topics/ops/subscribers")).json()
    assert got["user_ids"] == ["ann", "bob", "cy"]
    resp = await app.call("POST", "/v1/notifications/publish", body={"topic": "empty", "content": EMAIL})
    assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == "topic"


async def test_deleting_a_user_erases_contact_data_and_inbox(app: Harness) -> None:
    await put_user(app)
    out = await app.publish({"to": {"user_id": "ann"}, "content": {"inapp": {"title": "Hi", "body": "there"}}})
    await app.settled(out["notifications"][0]["id"])
    assert len(await app.rows("SELECT * FROM inbox")) == 1
    assert (await app.call("DELETE", "/v1/users/ann", "admin")).status == 204
    assert (await app.call("GET", "/v1/users/ann")).status == 404
    assert await app.rows("SELECT * FROM inbox") == []
    kept = await app.rows("SELECT status FROM deliveries")
    assert [r["status"] for r in kept] == ["sent"], "delivery counts stay for analytics"
    notification = await app.notification(out["notifications"][0]["id"])
    assert notification["recipient"] == {"erased": True}
    assert (await app.call("DELETE", "/v1/users/ann", "admin")).status == 404


async def test_another_tenants_users_are_invisible(app: Harness) -> None:
    await put_user(app)
    _, other = await add_tenant(app.svc, "globex")
    headers = {"Authorization": f"Bearer {other['owner']}"}
    assert (await app.client.get("/v1/users/ann", headers=headers)).status == 404
    assert (await app.client.get("/v1/users/ann/preferences", headers=headers)).status == 404
    resp = await app.client.post(
        "/v1/notifications/publish", headers=headers, json={"to": {"user_id": "ann"}, "content": EMAIL}
    )
    nid = (await resp.json())["notifications"][0]["id"]
    got = await (await app.client.get(f"/v1/notifications/{nid}", headers=headers)).json()
    assert got["deliveries"][0]["reason"] == "unknown_user"


async def test_user_fields_are_validated(app: Harness) -> None:
    for body, field in (
        ({"email": "nope"}, "email"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"webpush": [{"endpoint": "ftp://x", "keys": {}}]}, "webpush.0.endpoint"),
        ({"shoe_size": 42}, "shoe_size"),
    ):
        resp = await app.call("PUT", "/v1/users/u", "admin", body)
        assert resp.status == 422 and field in [e["field"] for e in (await resp.json())["errors"]]
    assert await app.rows("SELECT * FROM users") == []


async def unsubscribe_link(app: Harness, category: str = "marketing") -> tuple[str, dict[str, Any]]:
    await put_user(app)
    nid = (
        await app.publish(
            {
                "to": {"user_id": "ann"},
                "content": {"email": {"subject": "Deals", "text": "Stop these: {{ unsubscribe_url }}"}},
                "category": category,
            }
        )
    )["notifications"][0]["id"]
    await app.settled(nid)
    [mail] = [o for o in (await (await app.call("GET", "/v1/outbox")).json())["items"] if o["notification_id"] == nid]
    return mail["content"].get("headers", {}).get("List-Unsubscribe", "").strip("<>"), mail["content"]


async def test_marketing_email_carries_one_click_unsubscribe_headers_and_the_link(app: Harness) -> None:
    url, content = await unsubscribe_link(app)
    assert url.startswith("http://") and "/v1/unsubscribe/" in url
    assert content["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert content["text"] == f"Stop these: {url}"


async def test_the_unsubscribe_link_turns_the_category_off_without_an_api_key(app: Harness) -> None:
    url, _ = await unsubscribe_link(app)
    path = url[url.index("/v1/unsubscribe/") :]
    page = await app.client.get(path)
    assert page.status == 200 and "marketing" in await page.text()
    assert (await (await app.call("GET", "/v1/users/ann/preferences")).json())["categories"] == {}, (
        "GET changes nothing"
    )
    done = await app.client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status == 200
    prefs = await (await app.call("GET", "/v1/users/ann/preferences")).json()
    assert prefs["categories"]["marketing"]["enabled"] is False
    got = await deliveries(app, {"to": {"user_id": "ann"}, "content": EMAIL, "category": "marketing"})
    assert got["email"]["reason"] == "preference:category:marketing"


async def test_a_tampered_or_foreign_unsubscribe_link_is_refused(app: Harness) -> None:
    url, _ = await unsubscribe_link(app)
    token = url.rsplit("/", 1)[1]
    body, mac = token.split(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    from alertflow import signing

    foreign = signing.sign("another-install", "unsubscribe", {"t": app.tenant_id, "u": "ann", "c": "marketing"}, 60)
    for bad in (tampered, foreign, "garbage"):
        assert (await app.client.post(f"/v1/unsubscribe/{bad}")).status == 403
        assert (await app.client.get(f"/v1/unsubscribe/{bad}")).status == 403
    assert (await (await app.call("GET", "/v1/users/ann/preferences")).json())["categories"] == {}


async def test_no_unsubscribe_link_for_categories_that_cannot_be_opted_out_of(app: Harness) -> None:
    url, content = await unsubscribe_link(app, category="otp")
    assert url == "" and "List-Unsubscribe" not in content.get("headers", {})
    assert content["text"] == "Stop these: ", "the variable is defined, and empty"

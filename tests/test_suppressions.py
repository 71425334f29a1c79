"""The suppression list through the API: manual entries, normalised addresses, every way in
(publish, user records, bulk) suppressing a listed address, roles, and 422s naming fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import EMAIL, SMS, FakeClock, Harness, Script, StartApp
from tests.test_bulk import bulk, finished


async def put(app: Harness, channel: str, address: str, body: Any = None, role: str = "admin") -> Any:
    return await app.call("PUT", f"/v1/suppressions/{channel}/{address}", role, {} if body is None else body)


async def listed(app: Harness, query: str = "") -> dict[str, Any]:
    resp = await app.call("GET", f"/v1/suppressions{query}", "admin")
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def delivery_of(app: Harness, to: dict[str, Any], content: dict[str, Any] = EMAIL) -> dict[str, Any]:
    nid = (await app.publish({"to": to, "content": content}))["notifications"][0]["id"]
    [delivery] = (await app.settled(nid))["deliveries"]
    return delivery  # type: ignore[no-any-return]


async def test_a_manual_entry_suppresses_publishes_until_it_is_deleted(app: Harness) -> None:
    assert (await delivery_of(app, {"email": "ann@example.com"}))["status"] == "sent"  # the list is empty
    resp = await put(app, "email", "ann@example.com", {"detail": "asked us by phone"})
    assert resp.status == 200, await resp.text()
    entry = await resp.json()
    assert entry["reason"] == "manual" and entry["detail"] == "asked us by phone" and entry["created_at"]
    suppressed = await delivery_of(app, {"email": "ann@example.com"})
    assert (suppressed["status"], suppressed["reason"]) == ("suppressed", "suppression:manual")
    assert (await app.call("DELETE", "/v1/suppressions/email/ann@example.com", "admin")).status == 204
    assert (await delivery_of(app, {"email": "ann@example.com"}))["status"] == "sent"
    assert (await app.call("DELETE", "/v1/suppressions/email/ann@example.com", "admin")).status == 404


async def test_a_scheduled_send_to_an_address_listed_meanwhile_is_suppressed_when_it_falls_due(
    start_app: StartApp, script: Script
) -> None:
    noon = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()
    clock = FakeClock(noon)
    app = await start_app(clock=clock, providers={"email": script.provider()})
    at = datetime.fromtimestamp(noon + 60, UTC).isoformat()
    scheduled = [
        (await app.publish({"to": {"email": who}, "content": EMAIL, "send_at": at}))["notifications"][0]["id"]
        for who in ("gone@example.com", "ann@example.com")
    ]
    assert (await put(app, "email", "Gone@example.com", {"reason": "bounce"})).status == 200
    clock.t = noon + 61
    assert app.svc.pools is not None
    app.svc.pools.scheduled()
    [gone] = (await app.settled(scheduled[0]))["deliveries"]
    assert (gone["status"], gone["reason"]) == ("suppressed", "suppression:bounce")
    assert [a["outcome"] for a in gone["attempts"]] == ["suppressed"]
    assert (await app.settled(scheduled[1]))["status"] == "sent"
    assert [s["notification_id"] for s in script.sends()] == [scheduled[1]], "nothing went to the listed address"


async def test_email_addresses_are_listed_and_matched_in_lower_case(app: Harness) -> None:
    resp = await put(app, "email", "Ann@Example.COM")
    assert (await resp.json())["address"] == "ann@example.com"
    assert (await app.call("GET", "/v1/suppressions/email/ANN@example.com", "admin")).status == 200
    delivery = await delivery_of(app, {"email": "aNN@EXAMPLE.com"})
    assert delivery["reason"] == "suppression:manual"


async def test_an_internationalised_domain_is_listed_in_its_ascii_form_and_matched_either_way(app: Harness) -> None:
    resp = await put(app, "email", "Ann@Bücher.de")
    assert (await resp.json())["address"] == "ann@xn--bcher-kva.de"
    assert (await delivery_of(app, {"email": "ann@BÜCHER.de"}))["reason"] == "suppression:manual"
    assert (await delivery_of(app, {"email": "ann@xn--bcher-kva.de"}))["reason"] == "suppression:manual"


async def test_a_phone_number_is_listed_in_e164_and_suppresses_sms(app: Harness) -> None:
    resp = await put(app, "sms", "+1 (555) 010-0123")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["address"] == "+15550100123"
    delivery = await delivery_of(app, {"phone": "+15550100123"}, SMS)
    assert (delivery["status"], delivery["reason"]) == ("suppressed", "suppression:manual")


async def test_a_users_listed_address_suppresses_only_that_channel(app: Harness) -> None:
    user = {"email": "bob@example.com", "phone": "+15550100124"}
    assert (await app.call("PUT", "/v1/users/bob", body=user)).status == 200
    await put(app, "email", "bob@example.com", {"reason": "bounce"})
    nid = (await app.publish({"to": {"user_id": "bob"}, "content": {**EMAIL, **SMS}}))["notifications"][0]["id"]
    found = {d["channel"]: d for d in (await app.settled(nid))["deliveries"]}
    assert found["email"]["reason"] == "suppression:bounce" and found["sms"]["status"] == "sent"


async def test_a_bulk_send_suppresses_listed_addresses(app: Harness) -> None:
    await put(app, "email", "user1@example.com", {"reason": "complaint"})
    to = [{"email": f"user{i}@example.com"} for i in range(3)]
    done = await finished(app, (await bulk(app, {"to": to, "content": EMAIL}))["batch_id"])
    assert done["counts"] == {"sent": 2, "suppressed": 1}


async def test_the_list_filters_by_channel_and_address_and_pages_newest_first(app: Harness) -> None:
    for address in ("a@example.com", "b@example.com", "c@other.test"):
        assert (await put(app, "email", address)).status == 200
    assert (await put(app, "sms", "+15550100125")).status == 200
    page = await listed(app, "?channel=email&limit=2")
    assert [s["address"] for s in page["items"]] == ["c@other.test", "b@example.com"]
    rest = await listed(app, f"?channel=email&limit=2&cursor={page['next_cursor']}")
    assert [s["address"] for s in rest["items"]] == ["a@example.com"] and rest["next_cursor"] is None
    assert [s["address"] for s in (await listed(app, "?q=EXAMPLE"))["items"]] == ["b@example.com", "a@example.com"]
    assert [s["channel"] for s in (await listed(app, "?channel=sms"))["items"]] == ["sms"]
    assert (await listed(app, "?q=_"))["items"] == [], "LIKE's wildcards match only themselves"


async def test_what_get_shows_can_be_put_back(app: Harness) -> None:
    shown = await (await put(app, "email", "ann@example.com", {"reason": "bounce", "detail": "imported"})).json()
    again = await put(app, "email", "ann@example.com", {**shown, "detail": "still bouncing"})
    assert again.status == 200, await again.text()
    assert await again.json() == {**shown, "detail": "still bouncing"}


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/suppressions"),
        ("GET", "/v1/suppressions/email/ann@example.com"),
        ("PUT", "/v1/suppressions/email/ann@example.com"),
        ("DELETE", "/v1/suppressions/email/ann@example.com"),
    ],
)
async def test_members_may_not_see_or_change_the_list(app: Harness, method: str, path: str) -> None:
    resp = await app.call(method, path, "member", {} if method == "PUT" else None)
    assert resp.status == 403
    assert (await listed(app))["items"] == []


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/v1/suppressions/push/tok", {}, "channel"),
        ("/v1/suppressions/email/not-an-address", {}, "address"),
        ("/v1/suppressions/sms/555-0100", {}, "address"),
        ("/v1/suppressions/email/ann@example.com", {"reason": "spam"}, "reason"),
        ("/v1/suppressions/email/ann@example.com", {"detail": "x" * 501}, "detail"),
        ("/v1/suppressions/email/ann@example.com", {"channel": "sms"}, "channel"),
        ("/v1/suppressions/email/ann@example.com", {"address": "bob@example.com"}, "address"),
        ("/v1/suppressions/email/ann@example.com", {"note": "?"}, "note"),
    ],
)
async def test_a_bad_entry_is_a_422_naming_the_field_and_stores_nothing(
    app: Harness, path: str, body: dict[str, Any], field: str
) -> None:
    resp = await app.call("PUT", path, "admin", body)
    assert resp.status == 422, await resp.text()
    assert [e["field"] for e in (await resp.json())["errors"]] == [field]
    assert (await listed(app))["items"] == []


@pytest.mark.parametrize("query,field", [("?channel=push", "channel"), ("?cursor=x", "cursor"), ("?limit=0", "limit")])
async def test_a_bad_list_query_is_a_422_naming_it(app: Harness, query: str, field: str) -> None:
    resp = await app.call("GET", f"/v1/suppressions{query}", "admin")
    assert resp.status == 422
    assert [e["field"] for e in (await resp.json())["errors"]] == [field]

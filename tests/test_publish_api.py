"""Publishing over HTTP: what is accepted, what is refused, and that refusals leave nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import EMAIL, SMS, Harness, add_tenant

PUBLISH = "/v1/notifications/publish"
TABLES = ("notifications", "deliveries", "jobs", "idempotency_keys")


async def row_counts(app: Harness) -> dict[str, int]:
    return {t: (await app.rows(f"SELECT COUNT(*) AS n FROM {t}"))[0]["n"] for t in TABLES}


async def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert {"type", "title", "status", "detail"} <= body.keys() and body["status"] == status
    return body  # type: ignore[no-any-return]


async def test_a_published_email_is_queued_then_sent_through_the_outbox(app: Harness) -> None:
    out = await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL})
    [item] = out["notifications"]
    assert item["status"] == "queued" and item["recipient"] == {"email": "ann@example.com"}
    done = await app.settled(item["id"])
    assert done["status"] == "sent"
    [delivery] = done["deliveries"]
    assert delivery["provider"] == "outbox" and [a["outcome"] for a in delivery["attempts"]] == ["sent"]
    resp = await app.call("GET", "/v1/outbox?channel=email")
    [captured] = (await resp.json())["items"]
    assert captured["content"]["subject"] == "Disk alert"
    assert captured["recipient"]["email"] == "ann@example.com"


async def test_one_notification_per_recipient_and_one_delivery_per_channel(app: Harness) -> None:
    out = await app.publish(
        {
            "to": [
                {"email": "a@example.com", "phone": "+15550000001"},
                {"email": "b@example.com", "phone": "+15550000002"},
            ],
            "content": {**EMAIL, **SMS},
        }
    )
    assert len(out["notifications"]) == 2
    done = await app.settled(out["notifications"][0]["id"])
    assert sorted(d["channel"] for d in done["deliveries"]) == ["email", "sms"]


async def test_a_channel_the_recipient_cannot_be_reached_on_is_suppressed_with_the_reason(
    app: Harness,
) -> None:
    out = await app.publish({"to": {"email": "a@example.com"}, "content": {**EMAIL, **SMS}})
    done = await app.settled(out["notifications"][0]["id"])
    by_channel = {d["channel"]: d for d in done["deliveries"]}
    assert by_channel["sms"]["status"] == "suppressed" and by_channel["sms"]["reason"] == "no_contact:phone"
    assert by_channel["email"]["status"] == "sent"


async def test_priority_defaults_to_the_categorys(app: Harness) -> None:
    out = await app.publish({"to": {"phone": "+15550000001"}, "content": SMS, "category": "otp"})
    assert (await app.notification(out["notifications"][0]["id"]))["priority"] == "high"
    out = await app.publish(
        {
            "to": {"phone": "+15550000001"},
            "content": SMS,
            "category": "marketing",
            "priority": "medium",
        }
    )
    assert (await app.notification(out["notifications"][0]["id"]))["priority"] == "medium"


async def test_the_same_idempotency_key_returns_the_first_response_and_creates_nothing(
    app: Harness,
) -> None:
    body = {"to": {"email": "a@example.com"}, "content": EMAIL}
    first = await app.publish(body, headers={"Idempotency-Key": "order-42"})
    again = await app.publish(body, headers={"Idempotency-Key": "order-42"})
    assert again == first
    assert (await row_counts(app))["notifications"] == 1
    other = await app.publish(body, headers={"Idempotency-Key": "order-43"})
    assert other != first


async def test_idempotency_keys_are_per_tenant(app: Harness) -> None:
    _, other_keys = await add_tenant(app.svc, "globex")
    body = {"to": {"email": "a@example.com"}, "content": EMAIL}
    await app.publish(body, headers={"Idempotency-Key": "k"})
    resp = await app.client.post(
        PUBLISH,
        json=body,
        headers={"Authorization": f"Bearer {other_keys['owner']}", "Idempotency-Key": "k"},
    )
    assert resp.status == 202
    assert (await row_counts(app))["notifications"] == 2


# --- every error code of the contract, each leaving no rows behind --------------------------------


async def test_malformed_json_is_400(app: Harness) -> None:
    resp = await app.client.post(PUBLISH, data=b'{"to": ', headers=app.headers(**{"Content-Type": "application/json"}))
    await problem(resp, 400)
    assert set((await row_counts(app)).values()) == {0}


async def test_missing_or_unknown_key_is_401(app: Harness) -> None:
    await problem(await app.client.post(PUBLISH, json={}), 401)
    await problem(await app.client.post(PUBLISH, json={}, headers={"Authorization": "Bearer af_nope"}), 401)
    await problem(await app.client.get("/v1/notifications", headers={"Authorization": "Basic x"}), 401)
    assert set((await row_counts(app)).values()) == {0}


async def test_a_member_key_gets_403_on_an_admin_action(app: Harness) -> None:
    resp = await app.call("POST", "/v1/dlq/replay", "member", {})
    body = await problem(resp, 403)
    assert "admin" in body["detail"]
    resp = await app.call("PUT", "/v1/users/u1", "member", {"email": "a@example.com"})
    await problem(resp, 403)
    assert (await app.rows("SELECT COUNT(*) AS n FROM users"))[0]["n"] == 0


async def test_another_tenants_notification_is_404_and_absent_from_lists(app: Harness) -> None:
    out = await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL})
    nid = out["notifications"][0]["id"]
    _, other = await add_tenant(app.svc, "globex")
    headers = {"Authorization": f"Bearer {other['owner']}"}
    await problem(await app.client.get(f"/v1/notifications/{nid}", headers=headers), 404)
    await problem(await app.client.post(f"/v1/notifications/{nid}/cancel", headers=headers), 404)
    listed = await (await app.client.get("/v1/notifications", headers=headers)).json()
    assert listed == {"items": [], "next_cursor": None}
    assert (await (await app.client.get("/v1/outbox", headers=headers)).json())["items"] == []


async def test_a_body_over_one_mebibyte_is_413(app: Harness) -> None:
    huge = {
        "to": {"email": "a@example.com"},
        "content": {"email": {"subject": "x", "text": "y" * (1024 * 1024)}},
    }
    await problem(await app.call("POST", PUBLISH, body=huge), 413)
    assert set((await row_counts(app)).values()) == {0}


async def streamed(body: bytes, piece: int) -> AsyncIterator[bytes]:
    """``body`` in pieces, sent chunked: no Content-Length tells the server its size ahead."""
    for start in range(0, len(body), piece):
        yield body[start : start + piece]
        await asyncio.sleep(0)


async def test_a_body_streamed_in_pieces_is_read_whole_and_one_streamed_past_the_limit_is_413(
    app: Harness,
) -> None:
    # The text fills most of the body: the pieces arrive in several reads, and the limit
    # (1 MiB) is found while reading, not from a Content-Length.
    def body(text_bytes: int) -> bytes:
        return json.dumps(
            {
                "to": {"email": "a@example.com"},
                "content": {**EMAIL, "email": {"subject": "Streamed", "text": "y" * text_bytes}},
            }
        ).encode()

    headers = app.headers(**{"Content-Type": "application/json"})
    accepted = await app.client.post(PUBLISH, data=streamed(body(200_000), 16_384), headers=headers)
    assert accepted.status == 202, await accepted.text()
    [item] = (await accepted.json())["notifications"]
    stored = await app.rows("SELECT content FROM notifications WHERE id = ?", (item["id"],))
    assert len(json.loads(stored[0]["content"])["channels"]["email"]["text"]) == 200_000

    refused = await app.client.post(PUBLISH, data=streamed(body(1024 * 1024), 65_536), headers=headers)
    await problem(refused, 413)
    assert (await row_counts(app))["notifications"] == 1


async def test_a_body_that_is_not_json_is_415(app: Harness) -> None:
    resp = await app.client.post(PUBLISH, data="to=a", headers=app.headers(**{"Content-Type": "text/plain"}))
    await problem(resp, 415)
    assert set((await row_counts(app)).values()) == {0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": {"email": "not-an-address"}, "content": EMAIL}, "to.0.email"),
        ({"to": [{"email": "a@example.com"}, {"phone": "12"}], "content": SMS}, "to.1.phone"),
        ({"to": {}, "content": EMAIL}, "to.0"),
        ({"to": {"email": "a@example.com"}, "content": {}}, "content"),
        ({"to": {"email": "a@example.com"}, "content": {"email": None}}, "content"),
        (
            {"to": {"email": "a@example.com"}, "content": {"email": {"text": "no subject"}}},
            "content.email.subject",
        ),
        ({"to": {"email": "a@example.com"}, "content": EMAIL, "priority": "urgent"}, "priority"),
        ({"to": {"email": "a@example.com"}, "content": EMAIL, "category": "nope"}, "category"),
        ({"to": {"email": "a@example.com"}, "content": EMAIL, "channels": ["sms"]}, "content.sms"),
        ({"to": {"email": "a@example.com"}, "content": EMAIL, "send_at": "tomorrow"}, "send_at"),
        ({"to": {"email": "a@example.com"}, "content": EMAIL, "surprise": 1}, "surprise"),
        ({"to": [{"email": "a@example.com"}] * 1001, "content": EMAIL}, "to"),
    ],
)
async def test_invalid_fields_are_422_naming_the_field(app: Harness, body: dict[str, Any], field: str) -> None:
    resp = await app.call("POST", PUBLISH, body=body)
    problem_body = await problem(resp, 422)
    assert field in [e["field"] for e in problem_body["errors"]], problem_body
    assert set((await row_counts(app)).values()) == {0}


async def test_an_overlong_idempotency_key_is_422(app: Harness) -> None:
    resp = await app.call(
        "POST",
        PUBLISH,
        body={"to": {"email": "a@example.com"}, "content": EMAIL},
        headers={"Idempotency-Key": "k" * 256},
    )
    assert (await problem(resp, 422))["errors"][0]["field"] == "Idempotency-Key"


async def test_unknown_paths_are_404_problems(app: Harness) -> None:
    await problem(await app.call("GET", "/v1/nothing-here"), 404)


# --- reading and cancelling ------------------------------------------------------------------------


async def test_listing_is_newest_first_with_filters_and_a_cursor(app: Harness) -> None:
    ids = []
    for i in range(5):
        out = await app.publish(
            {
                "to": {"email": f"u{i}@example.com"},
                "content": EMAIL,
                "category": "alerts" if i % 2 else "marketing",
            }
        )
        ids.append(out["notifications"][0]["id"])
    resp = await app.call("GET", "/v1/notifications?limit=2")
    page1 = await resp.json()
    assert [n["id"] for n in page1["items"]] == ids[::-1][:2]
    resp = await app.call("GET", f"/v1/notifications?limit=2&cursor={page1['next_cursor']}")
    page2 = await resp.json()
    assert [n["id"] for n in page2["items"]] == ids[::-1][2:4]
    alerts = await (await app.call("GET", "/v1/notifications?category=alerts")).json()
    assert {n["id"] for n in alerts["items"]} == {ids[1], ids[3]}
    await problem(await app.call("GET", "/v1/notifications?status=lost"), 422)
    await problem(await app.call("GET", "/v1/notifications?since=yesterday"), 422)
    await problem(await app.call("GET", "/v1/notifications?limit=0"), 422)


async def test_a_scheduled_notification_can_be_cancelled_until_it_fires(app: Harness) -> None:
    out = await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL, "send_at": "2099-01-01T00:00:00Z"})
    nid = out["notifications"][0]["id"]
    assert out["notifications"][0]["status"] == "scheduled"
    scheduled = await (await app.call("GET", "/v1/notifications?status=scheduled")).json()
    assert [n["id"] for n in scheduled["items"]] == [nid]
    resp = await app.call("POST", f"/v1/notifications/{nid}/cancel")
    assert resp.status == 200
    assert (await resp.json())["deliveries"][0]["status"] == "cancelled"
    assert (await app.rows("SELECT COUNT(*) AS n FROM jobs"))[0]["n"] == 0

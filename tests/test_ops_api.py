"""The API behind the dashboard's operations pages: what waits in the queue (GET /v1/queue),
history searched by recipient and time, a notification's rendered content, and the outbox's
SMS encoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alertflow.providers.resilience import CIRCUIT_FAILURES
from tests.conftest import EMAIL, SMS, Harness, Script, StartApp, add_tenant

LATER = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


async def answer(app: Harness, path: str, role: str = "member", status: int = 200) -> Any:
    resp = await app.call("GET", path, role)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def field_of(app: Harness, path: str) -> str:
    problem = await answer(app, path, status=422)
    return str(problem["errors"][0]["field"])


async def test_the_queue_counts_waiting_deliveries_per_channel_and_priority_for_the_tenant_alone(
    app: Harness,
) -> None:
    both = {"to": {"email": "ann@example.com", "phone": "+15550100"}, "content": {**EMAIL, **SMS}, "send_at": LATER}
    await app.publish({**both, "priority": "high"})
    await app.publish({**both, "priority": "high"})
    await app.publish({**both, "priority": "low", "channels": ["sms"]})
    _, other = await add_tenant(app.svc, "other")
    resp = await app.client.post(
        "/v1/notifications/publish", json=both, headers={"Authorization": f"Bearer {other['owner']}"}
    )
    assert resp.status == 202

    queue = await answer(app, "/v1/queue")
    assert queue["depth"] == {"email": {"high": 2}, "sms": {"high": 2, "low": 1}}
    assert queue["dead"] == 0
    states = {(c["channel"], c["provider"]): c["state"] for c in queue["circuits"]}
    assert states == {
        ("email", "outbox"): "closed",
        ("sms", "outbox"): "closed",
        ("push", "outbox"): "closed",
        ("inapp", "inbox"): "closed",
    }
    resp = await app.client.get("/v1/queue", headers={"Authorization": f"Bearer {other['member']}"})
    assert (await resp.json())["depth"] == {"email": {"medium": 1}, "sms": {"medium": 1}}
    assert (await app.client.get("/v1/queue")).status == 401


async def test_a_provider_that_keeps_failing_shows_its_circuit_open_and_its_dead_letters(
    start_app: StartApp, script: Script
) -> None:
    script.set(fail="retry")
    app = await start_app(queue={"max_attempts": 1}, providers={"email": script.provider()})
    out = await app.publish({"to": [{"email": f"u{i}@example.com"} for i in range(CIRCUIT_FAILURES)], "content": EMAIL})
    for n in out["notifications"]:
        await app.settled(n["id"])
    queue = await answer(app, "/v1/queue")
    assert queue["dead"] == CIRCUIT_FAILURES and queue["depth"] == {}
    assert {"channel": "email", "provider": "scripted", "state": "open"} in queue["circuits"]


async def test_history_finds_recipients_by_part_of_their_address_or_user_and_stays_in_the_tenant(
    app: Harness,
) -> None:
    put = await app.call("PUT", "/v1/users/u-ann", "admin", {"email": "ann@corp.example"})
    assert put.status in (200, 201), await put.text()
    for to in ({"email": "Bo@example.com"}, {"phone": "+15550100"}, {"user_id": "u-ann"}):
        await app.publish({"to": to, "content": {**EMAIL, **SMS}})
    _, other = await add_tenant(app.svc, "other")
    resp = await app.client.post(
        "/v1/notifications/publish",
        json={"to": {"email": "bo@example.com"}, "content": EMAIL},
        headers={"Authorization": f"Bearer {other['owner']}"},
    )
    assert resp.status == 202

    async def recipients(query: str) -> list[dict[str, Any]]:
        return [n["recipient"] for n in (await answer(app, f"/v1/notifications?{query}"))["items"]]

    assert await recipients("q=bo@EXAMPLE") == [{"email": "Bo@example.com"}], "not the other tenant's Bo"
    assert await recipients("q=%2B1555") == [{"phone": "+15550100"}]
    assert await recipients("q=corp.example") == [{"user_id": "u-ann"}], "found through the user's record"
    assert len(await recipients("q=")) == 3, "an empty search is no filter"


async def test_history_takes_a_time_range_and_refuses_a_bad_one_naming_the_field(app: Harness) -> None:
    await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL})
    now = datetime.now(UTC)
    hour_ago, soon = (now - timedelta(hours=1)).isoformat(), (now + timedelta(minutes=5)).isoformat()
    assert len((await answer(app, f"/v1/notifications?since={hour_ago.replace('+00:00', 'Z')}"))["items"]) == 1
    assert (await answer(app, f"/v1/notifications?since={soon.replace('+00:00', 'Z')}"))["items"] == []
    assert (await answer(app, f"/v1/notifications?until={hour_ago.replace('+00:00', 'Z')}"))["items"] == []
    assert await field_of(app, "/v1/notifications?since=yesterday") == "since"
    assert await field_of(app, "/v1/notifications?until=2026-13-01T00:00:00Z") == "until"
    assert await field_of(app, "/v1/notifications?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z") == "since"
    assert await field_of(app, f"/v1/notifications?q={'x' * 201}") == "q"


async def test_a_notification_shows_what_was_sent_per_channel_where_a_copy_is_kept(
    start_app: StartApp, script: Script
) -> None:
    app = await start_app(providers={"push": script.provider()})
    put = await app.call(
        "PUT", "/v1/users/u1", "admin", {"email": "a@example.com", "phone": "+15550100", "push_tokens": ["device-1"]}
    )
    assert put.status in (200, 201), await put.text()
    inapp = {"inapp": {"title": "Build {{n}} failed", "body": "main is red"}}
    push = {"push": {"title": "Build failed", "body": "main is red"}}
    out = await app.publish({"to": {"user_id": "u1"}, "content": {**EMAIL, **SMS, **inapp, **push}, "data": {"n": 7}})
    found = await app.settled(out["notifications"][0]["id"])
    rendered = {d["channel"]: d["rendered"] for d in found["deliveries"]}
    assert rendered["sms"] == {"body": "CPU > 90%", "info": {"encoding": "GSM-7", "segments": 1, "characters": 9}}
    assert rendered["email"]["subject"] == "Disk alert" and rendered["email"]["text"] == "/var is 95% full"
    assert rendered["inapp"] == {"title": "Build 7 failed", "body": "main is red", "action_url": None, "data": {}}
    assert rendered["push"] is None, "a provider other than the outbox keeps no copy"
    listed = (await answer(app, "/v1/notifications"))["items"][0]["deliveries"]
    assert all("rendered" not in d for d in listed), "a page stays light: only the detail reads the captures"


async def test_the_outbox_tells_an_sms_encoding_and_segments(app: Harness) -> None:
    gsm, ucs = "a" * 161, "Grüße aus Köln ✓"
    for body in (gsm, ucs):
        n = await app.publish({"to": {"phone": "+15550100"}, "content": {"sms": {"body": body}}})
        await app.settled(n["notifications"][0]["id"])
    await app.settled(
        (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    )
    items = (await answer(app, "/v1/outbox?channel=sms"))["items"]
    assert [i["info"] for i in items] == [
        {"encoding": "UCS-2", "segments": 1, "characters": len(ucs)},
        {"encoding": "GSM-7", "segments": 2, "characters": 161},
    ]
    [email] = (await answer(app, "/v1/outbox?channel=email"))["items"]
    assert "info" not in email

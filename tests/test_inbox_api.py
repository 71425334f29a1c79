"""The inbox over HTTP: listing, counting, marking and archiving, by API key or subscriber token,
and never across users or tenants."""

from __future__ import annotations

from typing import Any

import pytest

from alertflow import signing
from alertflow.inbox.items import TOKEN_PURPOSE
from tests.conftest import Harness, add_tenant
from tests.inbox_support import add_user, deliver, token_for
from tests.signin_support import add_member, browsers
from tests.test_publish_api import problem

INBOX = "/v1/users/u1/inbox"


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def get(app: Harness, path: str, credential: str | None = None) -> Any:
    resp = await app.client.get(path, headers=bearer(credential or app.keys["member"]))
    assert resp.status == 200, await resp.text()
    return await resp.json()


@pytest.fixture
async def three(app: Harness) -> list[str]:
    """u1 has three items, newest first."""
    await add_user(app, "u1")
    ids = [await deliver(app, "u1", f"Alert {i}") for i in range(3)]
    return sorted(ids, reverse=True)


async def test_the_inbox_lists_newest_first_in_pages_with_a_cursor(app: Harness, three: list[str]) -> None:
    first = await get(app, f"{INBOX}?limit=2")
    assert [i["id"] for i in first["items"]] == three[:2]
    item = first["items"][0]
    assert item.keys() == {"id", "title", "body", "action_url", "data", "category", "created_at", "read_at"}
    assert item["read_at"] is None and item["action_url"] == "https://ops.example/disk"
    rest = await get(app, f"{INBOX}?limit=2&cursor={first['next_cursor']}")
    assert [i["id"] for i in rest["items"]] == three[2:] and rest["next_cursor"] is None


async def test_reading_an_item_sets_read_at_once_and_lowers_the_unread_count(app: Harness, three: list[str]) -> None:
    assert await get(app, f"{INBOX}/count") == {"unread_count": 3}
    resp = await app.call("POST", f"{INBOX}/{three[1]}/read", "member")
    read = await resp.json()
    assert resp.status == 200 and read["id"] == three[1] and read["read_at"]
    again = await (await app.call("POST", f"{INBOX}/{three[1]}/read", "member")).json()
    assert again["read_at"] == read["read_at"]
    assert await get(app, f"{INBOX}/count") == {"unread_count": 2}
    unread = await get(app, f"{INBOX}?unread=true")
    assert [i["id"] for i in unread["items"]] == [three[0], three[2]]


async def test_read_all_marks_every_unread_item(app: Harness, three: list[str]) -> None:
    await app.call("POST", f"{INBOX}/{three[0]}/read", "member")
    resp = await app.call("POST", f"{INBOX}/read-all", "member")
    assert await resp.json() == {"read": 2}
    assert await get(app, f"{INBOX}/count") == {"unread_count": 0}
    assert (await get(app, f"{INBOX}?unread=1"))["items"] == []


async def test_archiving_hides_an_item_but_keeps_its_row(app: Harness, three: list[str]) -> None:
    resp = await app.call("DELETE", f"{INBOX}/{three[0]}", "member")
    assert resp.status == 204
    assert [i["id"] for i in (await get(app, INBOX))["items"]] == three[1:]
    assert await get(app, f"{INBOX}/count") == {"unread_count": 2}
    await problem(await app.call("DELETE", f"{INBOX}/{three[0]}", "member"), 404)
    await problem(await app.call("POST", f"{INBOX}/{three[0]}/read", "member"), 404)
    [row] = await app.rows("SELECT archived_at FROM inbox WHERE id = ?", (three[0],))
    assert row["archived_at"] is not None


async def test_reading_an_item_marks_its_delivery_delivered(app: Harness, three: list[str]) -> None:
    await app.call("POST", f"{INBOX}/{three[0]}/read", "member")
    rows = await app.rows("SELECT status, delivered_at FROM deliveries WHERE provider_message_id = ?", (three[0],))
    assert rows[0]["status"] == "delivered" and rows[0]["delivered_at"] is not None
    [unread] = await app.rows("SELECT status FROM deliveries WHERE provider_message_id = ?", (three[1],))
    assert unread["status"] == "sent"


async def test_the_users_token_opens_its_own_inbox_and_no_other(app: Harness, three: list[str]) -> None:
    await add_user(app, "u2")
    token = await token_for(app, "u1")
    assert [i["id"] for i in (await get(app, INBOX, token))["items"]] == three
    resp = await app.client.post(f"{INBOX}/read-all", headers=bearer(token))
    assert await resp.json() == {"read": 3}
    await problem(await app.client.get("/v1/users/u2/inbox", headers=bearer(token)), 404)
    # A token is for a browser: it cannot mint more tokens or reach the rest of the API.
    await problem(await app.client.post("/v1/users/u1/inbox-token", headers=bearer(token)), 401)
    await problem(await app.client.get("/v1/notifications", headers=bearer(token)), 401)


async def test_a_token_expires_after_its_ttl(app: Harness, three: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await app.call("POST", "/v1/users/u1/inbox-token", "member")
    issued = await resp.json()
    assert issued["expires_at"] and issued["token"]
    later = app.svc.clock.now() + app.svc.config.inbox.token_ttl_seconds + 1
    monkeypatch.setattr(app.svc.clock, "now", lambda: later)
    body = await problem(await app.client.get(INBOX, headers=bearer(issued["token"])), 401)
    assert "expired" in body["detail"]


async def test_a_forged_token_is_refused(app: Harness, three: list[str]) -> None:
    forged = signing.sign("not-the-server-secret", TOKEN_PURPOSE, {"t": app.tenant_id, "u": "u1"}, 3600)
    body = await problem(await app.client.get(INBOX, headers=bearer(forged)), 401)
    assert "not valid" in body["detail"]
    await problem(await app.client.get(INBOX, headers=bearer("x.y")), 401)


async def test_another_tenant_sees_neither_the_user_nor_the_items(app: Harness, three: list[str]) -> None:
    _, globex = await add_tenant(app.svc, "globex")
    await problem(await app.client.get(INBOX, headers=bearer(globex["member"])), 404)
    await problem(await app.client.post("/v1/users/u1/inbox-token", headers=bearer(globex["member"])), 404)
    await add_user(app, "u1", globex)  # the same user id in another tenant is another user
    assert (await get(app, INBOX, globex["member"]))["items"] == []
    await problem(await app.client.post(f"{INBOX}/{three[0]}/read", headers=bearer(globex["member"])), 404)
    await problem(await app.client.delete(f"{INBOX}/{three[0]}", headers=bearer(globex["member"])), 404)
    assert await get(app, f"{INBOX}/count") == {"unread_count": 3}


async def test_no_credential_is_401_and_an_unknown_user_or_item_404(app: Harness, three: list[str]) -> None:
    await problem(await app.client.get(INBOX), 401)
    await problem(await app.client.get(INBOX, headers=bearer("af_unknown_key")), 401)
    await problem(await app.call("GET", "/v1/users/nobody/inbox", "member"), 404)
    await problem(await app.call("POST", "/v1/users/nobody/inbox-token", "member"), 404)
    await problem(await app.call("POST", f"{INBOX}/inb_nope/read", "member"), 404)


@pytest.mark.parametrize(
    ("query", "field"),
    [("unread=maybe", "unread"), ("cursor=42", "cursor"), ("limit=0", "limit"), ("limit=501", "limit")],
)
async def test_invalid_query_parameters_are_422_naming_them(app: Harness, query: str, field: str) -> None:
    await add_user(app, "u1")
    body = await problem(await app.call("GET", f"{INBOX}?{query}", "member"), 422)
    assert [e["field"] for e in body["errors"]] == [field]


async def test_a_signed_in_member_reads_an_inbox_and_marks_it_read_with_the_sessions_csrf_token(
    app: Harness, three: list[str]
) -> None:
    await add_member(app, "ann@example.com", "member")
    async with browsers(app) as new:
        ann = new()
        assert (await ann.sign_in("ann@example.com")).status == 303
        listed = await ann.call("GET", INBOX)
        assert listed.status == 200 and [i["id"] for i in (await listed.json())["items"]] == three
        await problem(await ann.call("POST", f"{INBOX}/{three[0]}/read", csrf=False), 403)
        assert (await ann.call("POST", f"{INBOX}/{three[0]}/read")).status == 200
        await problem(await ann.call("GET", "/v1/users/nobody/inbox"), 404)
    assert await get(app, f"{INBOX}/count") == {"unread_count": 2}

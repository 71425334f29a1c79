"""The live inbox over real WebSockets: pushes, cross-tab sync, reconnects, refusals and limits."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import WSMsgType

from alertflow import signing
from alertflow.inbox.hub import HUB
from alertflow.inbox.items import TOKEN_PURPOSE, Subscriber
from alertflow.ops.bench import Target, inbox_fanout
from tests.conftest import WAIT_SECONDS, Harness, StartApp, add_tenant
from tests.inbox_support import WS, add_user, connect, deliver, inapp, token_for


@pytest.fixture
async def u1(app: Harness) -> str:
    """A token for user u1 of tenant acme."""
    await add_user(app, "u1")
    return await token_for(app, "u1")


async def test_a_new_item_is_pushed_to_every_connection_of_its_user(app: Harness, u1: str) -> None:
    tab, phone = await connect(app, u1), await connect(app, u1)
    assert (tab.backlog, tab.count) == ([], 0)
    resp = await app.call("POST", "/v1/notifications/publish", "member", {"to": {"user_id": "u1"}, "content": inapp()})
    assert resp.status == 202
    for live in (tab, phone):
        pushed = (await live.expect("notification"))["data"]
        assert pushed["title"] == "Disk alert" and pushed["read_at"] is None and pushed["id"].startswith("inb_")
        assert await live.expect("unread_count") == {"type": "unread_count", "count": 1}


async def test_reading_on_one_connection_updates_the_others(app: Harness, u1: str) -> None:
    item = await deliver(app, "u1")
    tab, other_tab = await connect(app, u1), await connect(app, u1)
    assert [i["id"] for i in other_tab.backlog] == [item] and other_tab.count == 1
    await tab.send(type="read", id=item)
    for live in (tab, other_tab):
        read = await live.expect("read")
        assert read["id"] == item and read["read_at"]
        assert await live.expect("unread_count") == {"type": "unread_count", "count": 0}


async def test_read_all_and_archive_sync_to_every_connection(app: Harness, u1: str) -> None:
    first, second = await deliver(app, "u1", "first"), await deliver(app, "u1", "second")
    tab, other_tab = await connect(app, u1), await connect(app, u1)
    await tab.send(type="archive", id=first)
    for live in (tab, other_tab):
        assert await live.expect("archive") == {"type": "archive", "id": first}
        assert (await live.expect("unread_count"))["count"] == 1
    await other_tab.send(type="read_all")
    for live in (tab, other_tab):
        assert (await live.expect("read_all"))["read_at"]
        assert (await live.expect("unread_count"))["count"] == 0
    again = await connect(app, u1)
    assert [i["id"] for i in again.backlog] == [second] and again.backlog[0]["read_at"]


async def test_a_change_over_http_reaches_the_users_sockets(app: Harness, u1: str) -> None:
    item = await deliver(app, "u1")
    live = await connect(app, u1)
    await app.call("POST", f"/v1/users/u1/inbox/{item}/read", "member")
    assert (await live.expect("read"))["id"] == item
    assert (await live.expect("unread_count"))["count"] == 0


async def test_a_reconnect_with_since_receives_what_it_missed(app: Harness, u1: str) -> None:
    seen = await deliver(app, "u1", "seen")
    live = await connect(app, u1)
    assert [i["id"] for i in live.backlog] == [seen]
    await live.ws.close()
    missed = [await deliver(app, "u1", "missed 1"), await deliver(app, "u1", "missed 2")]
    back = await connect(app, u1, since=seen)
    assert [i["id"] for i in back.backlog] == sorted(missed) and back.count == 3


async def test_other_users_and_other_tenants_receive_nothing(app: Harness, u1: str) -> None:
    await add_user(app, "u2")
    _, globex = await add_tenant(app.svc, "globex")
    await add_user(app, "u1", globex)  # the same user id, another tenant
    mine = await connect(app, u1)
    colleague = await connect(app, await token_for(app, "u2"))
    namesake = await connect(app, await token_for(app, "u1", globex))
    await deliver(app, "u1")
    await mine.expect("notification")
    await mine.expect("unread_count")
    await colleague.nothing_pending()
    await namesake.nothing_pending()
    await mine.send(type="read_all")
    await mine.expect("read_all")
    await colleague.nothing_pending()
    await namesake.nothing_pending()


async def test_an_acknowledged_item_is_delivered_and_an_unacknowledged_one_stays_sent(app: Harness, u1: str) -> None:
    live = await connect(app, u1)
    acked, ignored = await deliver(app, "u1", "acked"), await deliver(app, "u1", "ignored")
    await live.send(type="ack", id=acked)

    async def status(item: str) -> str:
        [row] = await app.rows("SELECT status FROM deliveries WHERE provider_message_id = ?", (item,))
        return str(row["status"])

    async def acked_delivered() -> bool:
        return await status(acked) == "delivered"

    await app.until(acked_delivered)
    assert await status(ignored) == "sent"


async def test_an_expired_or_forged_token_is_refused_before_the_upgrade(app: Harness, u1: str) -> None:
    expired = signing.sign("test-secret", TOKEN_PURPOSE, {"t": app.tenant_id, "u": "u1"}, 60, now=time.time() - 3600)
    forged = signing.sign("guessed-secret", TOKEN_PURPOSE, {"t": app.tenant_id, "u": "u1"}, 3600)
    for token in (expired, forged, u1[:-3] + "AAA", ""):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await app.client.ws_connect(WS, params={"token": token})
        assert refused.value.status == 401, token
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await app.client.ws_connect(WS, params={"token": u1, "since": "yesterday"})
    assert refused.value.status == 422
    plain = await app.client.get(WS, params={"token": u1})  # no Upgrade header: not a WebSocket
    assert plain.status == 400 and plain.content_type == "application/problem+json"
    assert app.client.app[HUB].connections(Subscriber(app.tenant_id, "u1")) == 0


async def test_a_token_made_before_the_user_was_erased_is_refused(app: Harness, u1: str) -> None:
    await app.call("DELETE", "/v1/users/u1", "admin")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await app.client.ws_connect(WS, params={"token": u1})
    assert refused.value.status == 404


async def test_a_bad_client_message_is_answered_on_that_socket_and_it_stays_open(app: Harness, u1: str) -> None:
    live = await connect(app, u1)
    await live.send(type="read")
    error = await live.expect("error")
    assert error["problem"]["status"] == 422 and [e["field"] for e in error["problem"]["errors"]] == ["id"]
    for nonsense in ('{"type": ["read"]}', "[]", "{"):
        await live.ws.send_str(nonsense)
        assert (await live.expect("error"))["problem"]["status"] in (400, 422), nonsense
    await live.send(type="read", id="inb_missing")
    assert (await live.expect("error"))["problem"]["status"] == 404
    await live.ws.send_bytes(b"\x00")
    assert (await live.expect("error"))["problem"]["status"] == 400
    await deliver(app, "u1")
    await live.expect("notification")


async def test_each_user_has_a_connection_cap(start_app: StartApp) -> None:
    app = await start_app(inbox={"max_connections_per_user": 2})
    await add_user(app, "u1")
    await add_user(app, "u2")
    token = await token_for(app, "u1")
    first, _ = await connect(app, token), await connect(app, token)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await app.client.ws_connect(WS, params={"token": token})
    assert refused.value.status == 429 and refused.value.headers and refused.value.headers["Retry-After"]
    await connect(app, await token_for(app, "u2"))  # the cap is per user
    await first.ws.close()
    hub = app.client.app[HUB]
    await app.until(lambda: hub.connections(Subscriber(app.tenant_id, "u1")) < 2)
    await connect(app, token)


async def test_shutdown_closes_every_socket_with_going_away(app: Harness, u1: str) -> None:
    lives = [await connect(app, u1), await connect(app, u1)]
    await app.client.server.close()  # the server alone: the client's sockets stay open to hear it
    for live in lives:
        message = await live.ws.receive(timeout=WAIT_SECONDS)
        assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 1001


async def test_the_widget_script_is_served(app: Harness) -> None:
    resp = await app.client.get("/static/alertflow-inbox.js")
    assert resp.status == 200 and "javascript" in resp.content_type
    assert "AlertFlowInbox" in await resp.text()


async def test_the_benchmarks_in_app_scenario_hears_back_from_every_socket(app: Harness) -> None:
    url = str(app.client.make_url("")).rstrip("/")
    results = await inbox_fanout(Target(url, app.keys["owner"]), sockets=5)
    assert results["inbox_missing"] == 0 and 0 < results["inbox_p50_ms"] <= results["inbox_p99_ms"]


async def test_a_client_that_stops_answering_pings_is_disconnected(start_app: StartApp) -> None:
    app = await start_app(inbox={"heartbeat_seconds": 0.1})
    await add_user(app, "u1")
    ws = await app.client.ws_connect(WS, params={"token": await token_for(app, "u1")}, autoping=False)
    kinds: list[aiohttp.WSMsgType] = []
    async with asyncio.timeout(WAIT_SECONDS):
        while (message := await ws.receive()).type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.PING):
            kinds.append(message.type)  # pings go unanswered, as from a machine that went to sleep
    assert aiohttp.WSMsgType.PING in kinds and message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    hub = app.client.app[HUB]
    await app.until(lambda: hub.connections(Subscriber(app.tenant_id, "u1")) == 0)


async def test_erasing_a_user_closes_their_open_sockets(app: Harness) -> None:
    await add_user(app, "u1")
    token = await token_for(app, "u1")
    live = await connect(app, token)
    assert (await app.call("DELETE", "/v1/users/u1", "admin")).status == 204
    closing = await live.ws.receive(timeout=WAIT_SECONDS)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and live.ws.close_code == 1008
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await app.client.ws_connect(WS, params={"token": token})

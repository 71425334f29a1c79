"""What the inbox tests share: users, in-app publishes, tokens and a live socket that reads like a script."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType

from tests.conftest import WAIT_SECONDS, Harness

WS = "/v1/inbox/ws"


def inapp(title: str = "Disk alert") -> dict[str, Any]:
    return {"inapp": {"title": title, "body": "/var is 95% full", "action_url": "https://ops.example/disk"}}


async def add_user(app: Harness, user_id: str, keys: dict[str, str] | None = None) -> None:
    headers = {"Authorization": f"Bearer {(keys or app.keys)['admin']}"}
    resp = await app.client.put(f"/v1/users/{user_id}", json={"name": user_id}, headers=headers)
    assert resp.status == 200, await resp.text()


async def deliver(app: Harness, user_id: str, title: str = "Disk alert", keys: dict[str, str] | None = None) -> str:
    """Publish one in-app notification to ``user_id``, wait until it is stored; its inbox item id."""
    headers = {"Authorization": f"Bearer {(keys or app.keys)['member']}"}
    body = {"to": {"user_id": user_id}, "content": inapp(title)}
    resp = await app.client.post("/v1/notifications/publish", json=body, headers=headers)
    assert resp.status == 202, await resp.text()
    nid = (await resp.json())["notifications"][0]["id"]
    [delivery] = (await app.settled(nid))["deliveries"]
    assert delivery["status"] in ("sent", "delivered"), delivery  # delivered: a listening widget acked it
    return str(delivery["provider_message_id"])


async def token_for(app: Harness, user_id: str, keys: dict[str, str] | None = None) -> str:
    headers = {"Authorization": f"Bearer {(keys or app.keys)['member']}"}
    resp = await app.client.post(f"/v1/users/{user_id}/inbox-token", headers=headers)
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["token"])


@dataclass
class Live:
    """An open inbox WebSocket; ``backlog`` and ``count`` are what it was told on connecting."""

    ws: ClientWebSocketResponse
    backlog: list[dict[str, Any]] = field(default_factory=list)
    count: int = -1

    async def next(self, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        assert msg.type is WSMsgType.TEXT, msg
        return json.loads(msg.data)  # type: ignore[no-any-return]

    async def expect(self, kind: str, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        message = await self.next(timeout)
        assert message["type"] == kind, message
        return message

    async def send(self, **message: Any) -> None:
        await self.ws.send_json(message)

    async def nothing_pending(self) -> None:
        """Nothing was queued for this socket before now: a probe's reply is the next message.

        The hub queues a message for every connection it concerns in one pass, so a message
        meant (wrongly) for this socket would already be ahead of the probe's reply.
        """
        await self.send(type="probe")
        reply = await self.next()
        assert reply["type"] == "error" and reply["problem"]["status"] == 422, reply


async def connect(app: Harness, token: str, since: str | None = None) -> Live:
    query = {"token": token, **({"since": since} if since else {})}
    live = Live(await app.client.ws_connect(WS, params=query))
    async with asyncio.timeout(WAIT_SECONDS):
        while (message := await live.next())["type"] == "notification":
            live.backlog.append(message["data"])
    assert message["type"] == "unread_count", message
    live.count = message["count"]
    return live

"""Replaying the whole dead-letter queue is asked for explicitly: a filter, or {"all": true}."""

from __future__ import annotations

from typing import Any

from tests.conftest import EMAIL, Script, StartApp
from tests.test_delivery import FAST_RETRIES, scripted_app


async def ok(resp: Any) -> Any:
    assert resp.status in (200, 202), await resp.text()
    return await resp.json()


async def test_replaying_the_dead_letter_queue_takes_a_filter_or_all_true(start_app: StartApp, script: Script) -> None:
    script.set(fail="retry")
    app = await scripted_app(start_app, script, queue={**FAST_RETRIES, "max_attempts": 1})
    out = await app.publish({"to": [{"email": "a@example.com"}, {"email": "b@example.com"}], "content": EMAIL})
    for n in out["notifications"]:
        await app.settled(n["id"])
    script.set()
    for body in (None, {}, {"all": False}, {"all": True, "channel": "email"}):
        resp = await app.call("POST", "/v1/dlq/replay", "admin", body)
        assert resp.status == 422, (body, await resp.text())
        assert resp.content_type == "application/problem+json"
    empty = await app.client.post("/v1/dlq/replay", headers=app.headers("admin"))
    assert empty.status == 422 and "all" in (await empty.json())["detail"]
    assert len((await ok(await app.call("GET", "/v1/dlq")))["items"]) == 2, "nothing replayed"
    replayed = await app.call("POST", "/v1/dlq/replay", "admin", {"all": True})
    assert replayed.status == 202 and len((await replayed.json())["replayed"]) == 2

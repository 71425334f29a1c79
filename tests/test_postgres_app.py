"""The whole server on PostgreSQL (``[storage] url``): it publishes and delivers as on SQLite,
and a database outage answers 503 without losing what was acknowledged (issue 15)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import EMAIL, WAIT_SECONDS, Harness, StartApp
from tests.postgres import PostgresServer

# Publishes acknowledged before the outage, and tried during it.
BEFORE, DURING = 20, 5


async def ready(app: Harness) -> int:
    return (await app.client.get("/readyz")).status


async def ready_now(app: Harness) -> bool:
    return await ready(app) == 200


async def publish(app: Harness, n: int) -> Any:
    return await app.call(
        "POST", "/v1/notifications/publish", body={"to": {"email": f"u{n}@example.com"}, "content": EMAIL}
    )


async def test_the_server_on_postgresql_publishes_and_sends(start_app: StartApp, postgres_url: str) -> None:
    app = await start_app(storage={"url": postgres_url})
    assert app.svc.database.dialect == "postgresql"
    [item] = (await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL}))["notifications"]
    done = await app.settled(item["id"])
    assert done["status"] == "sent"
    [delivery] = done["deliveries"]
    assert [a["outcome"] for a in delivery["attempts"]] == ["sent"]
    [captured] = (await (await app.call("GET", "/v1/outbox?channel=email")).json())["items"]
    assert captured["recipient"]["email"] == "ann@example.com"
    # Ready once it also listens to the other nodes (LISTEN on a connection of its own), which
    # a loaded database can answer after the first publish has already been sent.
    await app.until(lambda: ready_now(app))
    checks = (await (await app.client.get("/readyz")).json())["checks"]
    assert checks == {"database": "ok", "workers": "ok"}


async def test_while_postgresql_is_down_publishes_answer_503_and_nothing_acknowledged_is_lost(
    start_app: StartApp, postgres_url: str, postgres_server: PostgresServer
) -> None:
    app = await start_app(storage={"url": postgres_url})
    acknowledged = [
        (await app.publish({"to": {"email": f"a{n}@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
        for n in range(BEFORE)
    ]
    await asyncio.to_thread(postgres_server.stop)
    try:
        assert await ready(app) == 503
        for n in range(DURING):
            resp = await publish(app, n)
            assert resp.status == 503, await resp.text()
            assert (await resp.json())["type"].endswith("unavailable")
    finally:
        await asyncio.to_thread(postgres_server.restart)  # starts the stopped server again

    await app.until(lambda: ready_now(app))
    resp = await publish(app, BEFORE)
    assert resp.status == 202, await resp.text()
    acknowledged.append((await resp.json())["notifications"][0]["id"])
    for nid in acknowledged:
        assert (await app.settled(nid, ("sent",)))["status"] == "sent"
    sent = (await (await app.call("GET", "/v1/outbox?channel=email&limit=100")).json())["items"]
    assert len({s["notification_id"] for s in sent}) == len(acknowledged)


async def database_check(app: Harness) -> str:
    return str((await (await app.client.get("/readyz")).json())["checks"]["database"])


async def test_readyz_reports_the_database_down_across_a_postgresql_restart_then_ok_again(
    start_app: StartApp, postgres_url: str, postgres_server: PostgresServer
) -> None:
    app = await start_app(storage={"url": postgres_url})
    assert app.svc.pools is not None
    await app.svc.pools.stop(1.0)  # idle workers: the probe below is the first to use the writer
    assert await database_check(app) == "ok"
    await asyncio.to_thread(postgres_server.restart)
    # Every connection was cut: the writer finds its own gone, says so, and reconnects.
    assert (await database_check(app)).startswith("error: the database is unavailable")

    async def back() -> bool:
        return await database_check(app) == "ok"

    await app.until(back, WAIT_SECONDS)

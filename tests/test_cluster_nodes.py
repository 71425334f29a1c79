"""Two nodes on one PostgreSQL act as one: two whole apps (real aiohttp servers, each with its
own data dir and node id) in this process, sharing a database and nothing else, so what one
learns of the other's commits comes over LISTEN/NOTIFY. Their shared clock is a FakeClock,
so each test moves time instead of waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alertflow.api.context import SERVICES
from alertflow.app import create_app
from alertflow.cluster import ClusterCoordinator
from alertflow.config import ConfigError
from alertflow.delivery import workers
from tests.conftest import EMAIL, FakeClock, Harness, add_tenant, make_config
from tests.inbox_support import inapp
from tests.process import WAIT_SECONDS

WS = "/v1/inbox/ws"
# Mondays at 09:00 UTC: the cron of the schedule tests, and weeks to move the clock by.
CRON = "0 9 * * 1"
MONDAY_NINE = 1_774_861_200.0  # Monday 2026-03-30T09:00:00Z
WEEK = 7 * 24 * 3600

Node = Callable[..., Awaitable[Harness]]


@pytest.fixture
def node(aiohttp_client: Any, tmp_path: Path, postgres_url: str) -> Node:
    """``await node("a", clock)`` → a running node on the test's database; the first made
    creates the tenant, the others use it."""
    first: list[Harness] = []

    async def start(name: str, clock: FakeClock, **sections: Any) -> Harness:
        config = make_config(tmp_path / name, storage={"url": postgres_url}, **sections)
        client = await aiohttp_client(create_app(config, clock=clock))
        svc = client.app[SERVICES]
        assert isinstance(svc.coordinator, ClusterCoordinator)
        await asyncio.wait_for(svc.coordinator.link.listening.wait(), WAIT_SECONDS)
        tenant_id, keys = (first[0].tenant_id, first[0].keys) if first else await add_tenant(svc, "acme")
        harness = Harness(client, svc, tenant_id, keys)
        assert svc.deliverer is not None
        svc.deliverer.listeners.append(harness._record)
        first.append(harness)
        return harness

    return start


def heard(harness: Harness, signal: str) -> int:
    assert isinstance(harness.svc.coordinator, ClusterCoordinator)
    return harness.svc.coordinator.heard[signal]


async def test_a_commit_on_one_node_wakes_the_idle_workers_of_the_other(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No sweep for an hour and a clock that stands still: only a signal wakes B's idle pool.
    monkeypatch.setattr(workers, "SWEEP_SECONDS", 3600.0)
    clock = FakeClock(MONDAY_NINE)
    a, b = await node("a", clock), await node("b", clock)
    assert a.svc.pools is not None
    await a.svc.pools.stop(0)  # A takes nothing: whatever is sent, B sends
    # B's start-up (its pool's first claim, its timer's first sweep) may still find a job by
    # itself: one is sent first, so that B is idle when the one that counts is published.
    first = await a.publish({"to": {"email": "bob@example.com"}, "content": EMAIL})
    await b.settled(first["notifications"][0]["id"])
    before = heard(b, "jobs_ready")
    published = await a.publish({"to": {"email": "ann@example.com"}, "content": EMAIL})
    [delivery] = (await b.settled(published["notifications"][0]["id"]))["deliveries"]
    assert delivery["status"] == "sent"
    assert heard(b, "jobs_ready") > before and [d.status for _, d in b.decisions] == ["sent", "sent"]


async def test_an_inapp_message_delivered_by_one_node_reaches_a_socket_held_by_the_other(
    node: Node,
) -> None:
    clock = FakeClock(MONDAY_NINE)
    a, b = await node("a", clock), await node("b", clock)
    assert (await a.call("PUT", "/v1/users/u1", body={"email": "u1@example.com"})).status == 200
    token = await (await a.call("POST", "/v1/users/u1/inbox-token")).json()  # signed by A, shown to B
    assert b.svc.pools is not None
    await b.svc.pools.stop(0)  # B sends nothing: the item is A's
    async with b.client.ws_connect(WS, params={"token": token["token"]}) as ws:
        resp = await a.call(
            "POST", "/v1/notifications/publish", "member", {"to": {"user_id": "u1"}, "content": inapp()}
        )
        assert resp.status == 202, await resp.text()
        pushed = await ws.receive_json(timeout=WAIT_SECONDS)
        while pushed["type"] != "notification":
            pushed = await ws.receive_json(timeout=WAIT_SECONDS)
        assert pushed["data"]["title"] == "Disk alert"
        assert heard(b, "inbox_item") == 1

        # Read on A: the socket on B hears that too.
        assert (await a.call("POST", f"/v1/users/u1/inbox/{pushed['data']['id']}/read", "member")).status == 200
        kinds = []
        while "read" not in kinds:
            kinds.append((await ws.receive_json(timeout=WAIT_SECONDS))["type"])
        # Erased on A: B closes the socket.
        assert (await a.call("DELETE", "/v1/users/u1", "admin")).status == 204
        closing = await ws.receive(timeout=WAIT_SECONDS)
        while closing.type == aiohttp.WSMsgType.TEXT:
            closing = await ws.receive(timeout=WAIT_SECONDS)
        assert ws.close_code == 1008


async def test_a_change_on_one_node_is_seen_by_the_other_at_once(node: Node) -> None:
    clock = FakeClock(MONDAY_NINE)
    a, b = await node("a", clock), await node("b", clock)
    body = {"to": {"email": "ann@example.com"}, "content": EMAIL, "category": "billing"}
    # B reads the tenant's categories into its cache: "billing" is unknown.
    refused = await b.call("POST", "/v1/notifications/publish", "member", body)
    assert refused.status == 422, await refused.text()
    before = heard(b, "invalidate")
    assert (await a.call("PUT", "/v1/categories/billing", body={"priority": "high"})).status == 200
    await b.until(lambda: heard(b, "invalidate") > before)
    # Within the cache's lifetime, B reads anew: the signal dropped its entry.
    assert (await b.call("POST", "/v1/notifications/publish", "member", body)).status == 202

    # The tenant's default preferences: B has read them (email on); switched off on A, B
    # suppresses the next email.
    assert (await b.call("PUT", "/v1/users/u9", body={"email": "u9@example.com"})).status == 200
    sent = await b.publish({"to": {"user_id": "u9"}, "content": EMAIL})
    assert (await b.settled(sent["notifications"][0]["id"]))["deliveries"][0]["status"] == "sent"
    before = heard(b, "invalidate")
    off = {"channels": {"email": False}}
    assert (await a.call("PUT", "/v1/preferences/defaults", "admin", off)).status == 200
    await b.until(lambda: heard(b, "invalidate") > before)
    suppressed = await b.publish({"to": {"user_id": "u9"}, "content": EMAIL})
    [delivery] = (await b.settled(suppressed["notifications"][0]["id"]))["deliveries"]
    assert delivery["status"] == "suppressed", delivery
    before = heard(b, "invalidate")
    assert (await a.call("PUT", "/v1/preferences/defaults", "admin", {"channels": {}})).status == 200
    await b.until(lambda: heard(b, "invalidate") > before)

    template = {"key": "welcome", "channels": {"email": {"subject": "Hi", "text": "v1"}}}
    assert (await a.call("POST", "/v1/templates", "admin", template)).status == 201
    published = await b.publish({"to": {"email": "ann@example.com"}, "template": "welcome"})
    assert (await b.settled(published["notifications"][0]["id"]))["deliveries"][0]["status"] == "sent"
    before = heard(b, "invalidate")
    assert (await a.call("DELETE", "/v1/templates/welcome", "admin")).status == 204
    template["channels"]["email"]["text"] = "v1 again"
    assert (await a.call("POST", "/v1/templates", "admin", template)).status == 201
    await b.until(lambda: heard(b, "invalidate") > before)
    preview = await b.call("POST", "/v1/templates/welcome/preview", "member", {"data": {}})
    assert (await preview.json())["channels"]["email"]["text"] == "v1 again", (
        "B dropped the deleted template's versions"
    )


async def test_two_schedulers_firing_the_same_due_schedule_enqueue_one_batch_per_period(node: Node) -> None:
    clock = FakeClock(MONDAY_NINE - 30)
    a, b = await node("a", clock), await node("b", clock)
    schedule = {"name": "weekly", "cron": CRON, "timezone": "UTC", "to": [{"email": "a@example.com"}], "content": EMAIL}
    resp = await a.call("POST", "/v1/schedules", "admin", schedule)
    assert resp.status == 201, await resp.text()
    assert a.svc.scheduler is not None and b.svc.scheduler is not None
    fired: list[str] = []
    for period in range(3):
        clock.t = MONDAY_NINE + period * WEEK + 1
        # Both nodes wake at the same firing, as their APScheduler timers do, at once.
        for batches in await asyncio.gather(a.svc.scheduler.fire_due(), b.svc.scheduler.fire_due()):
            fired += batches
    assert len(fired) == 3, f"one batch per period across both nodes: {fired}"
    rows = await a.rows("SELECT dedupe_key FROM batches ORDER BY created_at")
    assert len(rows) == 3 and len({r["dedupe_key"] for r in rows}) == 3


async def test_the_same_idempotency_key_on_two_nodes_creates_once(node: Node) -> None:
    clock = FakeClock(MONDAY_NINE)
    a, b = await node("a", clock), await node("b", clock)
    body = {"to": {"email": "ann@example.com"}, "content": EMAIL}
    for attempt in range(5):  # the race is the point: several rounds of both at once
        headers = {"Idempotency-Key": f"order-{attempt}"}
        answers = await asyncio.gather(
            a.call("POST", "/v1/notifications/publish", "member", body, headers=headers),
            b.call("POST", "/v1/notifications/publish", "member", body, headers=headers),
        )
        assert [r.status for r in answers] == [202, 202]
        ids = [(await r.json())["notifications"][0]["id"] for r in answers]
        assert ids[0] == ids[1], "both nodes answer with the one notification created"
    assert (await a.rows("SELECT COUNT(*) AS n FROM notifications"))[0]["n"] == 5


async def test_a_node_with_another_secret_key_is_refused_at_start(node: Node) -> None:
    clock = FakeClock(MONDAY_NINE)
    await node("a", clock)
    with pytest.raises(ConfigError, match=r"server\.secret_key"):
        await node("b", clock, server={"secret_key": "not-the-same"})
    assert (await node("c", clock)).svc.pools is not None, "the same key starts"

"""The coordinator is the one path of every signal after a commit: pool and fan-out
wake-ups, schedule (re-)arming, inbox pushes and erasures, cache drops and the publish rate
limit's buckets. A second subscriber on the same
coordinator (what another node is, once #15 carries signals over LISTEN/NOTIFY) hears all
of it, and nothing in the package signals around it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from alertflow.api.rate_limits import PublishLimiter
from alertflow.config import LimitsConfig
from alertflow.coordination import Cache, CacheKey, InProcessCoordinator
from alertflow.errors import ApiError
from alertflow.inbox.hub import Hub
from alertflow.inbox.items import Subscriber
from alertflow.intake.scheduler import Scheduler
from alertflow.recipients import categories
from tests.conftest import EMAIL, WAIT_SECONDS, FakeClock, Harness, StartApp
from tests.inbox_support import add_user, connect, deliver, inapp, token_for

PACKAGE = Path(__file__).resolve().parent.parent / "alertflow"


class Socket:
    """A WebSocket held by another hub: what it is sent, in order."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.close_codes: list[int] = []

    async def send_str(self, data: str, compress: int | None = None) -> None:
        self.messages.put_nowait(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        self.close_codes.append(code)
        return True

    async def expect(self, kind: str) -> dict[str, Any]:
        message = await asyncio.wait_for(self.messages.get(), WAIT_SECONDS)
        assert message["type"] == kind, message
        return message


@contextlib.asynccontextmanager
async def second_hub(app: Harness) -> Any:
    """Another hub on the app's database and coordinator, its flusher running."""
    hub = Hub(app.svc.database, app.svc.config.inbox, app.svc.coordinator)
    running = contextlib.asynccontextmanager(hub.running)
    async with running(app.client.app):
        yield hub


async def test_a_publish_wakes_the_idle_pools_through_the_coordinator(start_app: StartApp) -> None:
    # The clock stands still, so the timer's sweep never runs again after start-up: only a
    # signal wakes an idle pool.
    app = await start_app(clock=FakeClock(1_000_000.0))
    heard: list[frozenset[str]] = []
    app.svc.coordinator.on_jobs_ready(heard.append)
    published = await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL})
    [delivery] = (await app.settled(published["notifications"][0]["id"]))["deliveries"]
    assert delivery["status"] == "sent"
    assert frozenset({"email"}) in heard


async def test_an_inbox_delivery_reaches_a_socket_of_every_hub_on_the_coordinator(app: Harness) -> None:
    await add_user(app, "u1")
    live = await connect(app, await token_for(app, "u1"))
    elsewhere = Socket()
    async with second_hub(app) as hub:
        hub.connect(Subscriber(app.tenant_id, "u1"), elsewhere, lambda: None).start()
        resp = await app.call(
            "POST", "/v1/notifications/publish", "member", {"to": {"user_id": "u1"}, "content": inapp()}
        )
        assert resp.status == 202
        here = (await live.expect("notification"))["data"]
        there = (await elsewhere.expect("notification"))["data"]
        assert here == there and here["title"] == "Disk alert"
        assert (await elsewhere.expect("unread_count"))["count"] == 1

        await app.call("POST", f"/v1/users/u1/inbox/{here['id']}/read", "member")
        assert (await elsewhere.expect("read"))["id"] == here["id"]
        assert (await elsewhere.expect("unread_count"))["count"] == 0


async def test_a_hub_pushes_nothing_of_users_it_holds_no_socket_of(app: Harness) -> None:
    await add_user(app, "u1")
    await add_user(app, "u2")
    elsewhere = Socket()
    async with second_hub(app) as hub:
        hub.connect(Subscriber(app.tenant_id, "u2"), elsewhere, lambda: None).start()
        await deliver(app, "u1")
        mine = await deliver(app, "u2")
        assert (await elsewhere.expect("notification"))["data"]["id"] == mine


async def test_a_write_drops_the_cached_read_through_the_coordinator(app: Harness) -> None:
    svc, key = app.svc, categories.cache_key(app.tenant_id)
    assert "billing" not in await categories.cached(svc.settings, svc.database, app.tenant_id)
    dropped: list[CacheKey] = []
    svc.coordinator.on_invalidate(Cache.SETTINGS, dropped.append)
    resp = await app.call("PUT", "/v1/categories/billing", body={"priority": "high"})
    assert resp.status == 200, await resp.text()
    assert dropped == [key]
    assert "billing" in await categories.cached(svc.settings, svc.database, app.tenant_id)


async def test_an_invalidation_from_elsewhere_makes_the_next_read_fresh(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write whose signal has not arrived yet (another node's): the cached read is stale...
    svc = app.svc
    assert "billing" not in await categories.cached(svc.settings, svc.database, app.tenant_id)
    with monkeypatch.context() as held_back:
        held_back.setattr(svc.coordinator, "invalidate", lambda cache, key: None)
        resp = await app.call("PUT", "/v1/categories/billing", body={"priority": "high"})
        assert resp.status == 200, await resp.text()
    assert "billing" not in await categories.cached(svc.settings, svc.database, app.tenant_id)
    # ...until the coordinator delivers it.
    svc.coordinator.invalidate(Cache.SETTINGS, categories.cache_key(app.tenant_id))
    assert "billing" in await categories.cached(svc.settings, svc.database, app.tenant_id)


async def test_a_bulk_batch_wakes_every_fan_out_through_the_coordinator(app: Harness) -> None:
    heard: list[str] = []
    app.svc.coordinator.on_batches_waiting(lambda: heard.append("batch"))
    resp = await app.call(
        "POST", "/v1/notifications/bulk", "member", {"to": [{"email": "a@example.com"}], "content": EMAIL}
    )
    assert resp.status == 202, await resp.text()
    assert heard == ["batch"]


@contextlib.asynccontextmanager
async def second_scheduler(app: Harness) -> Any:
    """Another node's scheduler on the app's database and coordinator."""
    scheduler = Scheduler(app.svc)
    await scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()


def armed(scheduler: Scheduler, schedule_id: str) -> bool:
    assert scheduler._aps is not None
    return scheduler._aps.get_job(schedule_id) is not None


DIGEST = {"name": "digest", "cron": "0 9 * * 1", "timezone": "Europe/Paris", "to": [{"email": "a@example.com"}]}


async def test_every_scheduler_arms_and_drops_a_schedule_changed_anywhere(app: Harness) -> None:
    async with second_scheduler(app) as elsewhere:
        resp = await app.call("POST", "/v1/schedules", "admin", {**DIGEST, "content": EMAIL})
        assert resp.status == 201, await resp.text()
        sid = (await resp.json())["id"]
        assert armed(elsewhere, sid)
        assert (await app.call("POST", f"/v1/schedules/{sid}/pause", "admin")).status == 200
        assert not armed(elsewhere, sid)
        assert (await app.call("POST", f"/v1/schedules/{sid}/resume", "admin")).status == 200
        assert armed(elsewhere, sid)
        assert (await app.call("DELETE", f"/v1/schedules/{sid}", "admin")).status == 204
        assert not armed(elsewhere, sid)


async def test_erasing_a_user_closes_their_sockets_on_every_hub(app: Harness) -> None:
    await add_user(app, "u1")
    elsewhere = Socket()
    async with second_hub(app) as hub:
        who = Subscriber(app.tenant_id, "u1")
        hub.connect(who, elsewhere, lambda: None).start()
        assert (await app.call("DELETE", "/v1/users/u1", "admin")).status == 204
        await app.until(lambda: elsewhere.close_codes == [1008])
        assert hub.connections(who) == 0


async def test_a_resync_drops_every_cache_and_rearms_what_was_missed(
    app: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Signals lost (a cluster node's link was cut): the cache is stale and the schedule unarmed...
    svc = app.svc
    assert "billing" not in await categories.cached(svc.settings, svc.database, app.tenant_id)
    async with second_scheduler(app) as elsewhere:
        with monkeypatch.context() as lost:
            lost.setattr(svc.coordinator, "invalidate", lambda cache, key: None)
            lost.setattr(svc.coordinator, "schedule_changed", lambda *args: None)
            assert (await app.call("PUT", "/v1/categories/billing", body={"priority": "high"})).status == 200
            resp = await app.call("POST", "/v1/schedules", "admin", {**DIGEST, "content": EMAIL})
            sid = (await resp.json())["id"]
        assert "billing" not in await categories.cached(svc.settings, svc.database, app.tenant_id)
        assert not armed(elsewhere, sid)
        # ...until the resync.
        assert isinstance(svc.coordinator, InProcessCoordinator)
        svc.coordinator.resync()
        assert "billing" in await categories.cached(svc.settings, svc.database, app.tenant_id)
        await app.until(lambda: armed(elsewhere, sid))


async def test_a_resync_fires_what_came_due_while_signals_were_lost(start_app: StartApp) -> None:
    clock = FakeClock(1_774_861_200.0 - 60)  # a minute before Monday 2026-03-30 09:00 UTC
    app = await start_app(clock=clock)
    resp = await app.call("POST", "/v1/schedules", "admin", {**DIGEST, "timezone": "UTC", "content": EMAIL})
    sid = (await resp.json())["id"]
    clock.t += 120  # its firing came and went while the database was away (the wake-up failed)
    assert isinstance(app.svc.coordinator, InProcessCoordinator)
    app.svc.coordinator.resync()

    async def fired() -> bool:
        return (await (await app.call("GET", f"/v1/schedules/{sid}")).json())["last_batch_id"] is not None

    await app.until(fired)


async def test_publish_limiters_on_one_coordinator_share_each_tenants_bucket() -> None:
    clock = FakeClock(1_000.0)
    coordinator = InProcessCoordinator(clock.now)
    limits = LimitsConfig(publish_per_second=1, publish_burst=2)
    here, there = PublishLimiter(limits, coordinator), PublishLimiter(limits, coordinator)
    await here.check("t1")
    await there.check("t1")
    with pytest.raises(ApiError) as refused:
        await here.check("t1")
    assert refused.value.headers == {"Retry-After": "1"}
    await there.check("t2")  # another tenant's bucket
    clock.t += 1.0
    await there.check("t1")


async def test_a_refused_take_costs_no_token() -> None:
    clock = FakeClock(0.0)
    coordinator = InProcessCoordinator(clock.now)
    limits = LimitsConfig(publish_per_second=2, publish_burst=1)
    limiter = PublishLimiter(limits, coordinator)
    await limiter.check("t1")
    for _ in range(5):
        with pytest.raises(ApiError):
            await limiter.check("t1")
    clock.t += 0.5  # one token at 2/s: the refusals took none of it
    await limiter.check("t1")


# --- nothing signals around the coordinator -------------------------------------------------

# What the parts that act on a signal offer, and the one module (theirs) that may call each.
BYPASSES = {
    "a pool woken directly": (re.compile(r"\bpools?\.(ready|scheduled|wake)\("), "delivery/workers.py"),
    "a hub told directly": (re.compile(r"(\bhub|\[HUB\])\.(changed|on_decision|forget)\b"), "inbox/hub.py"),
    "a fan-out woken directly": (re.compile(r"\bfanout\.submitted\("), "intake/fanout.py"),
    "a scheduler armed directly": (re.compile(r"\bscheduler\.(register|unregister)\("), "intake/scheduler.py"),
    "a cache dropped directly": (
        re.compile(r"\bsvc\.(settings\.drop|batch_counts\.drop|channels\.changed|templates\.forget)\("),
        "",
    ),
}


def bypasses(source: str, module: str = "") -> list[str]:
    return [name for name, (pattern, home) in BYPASSES.items() if module != home and pattern.search(source)]


@pytest.mark.parametrize(
    ("line", "caught"),
    [
        ("        svc.pools.ready(p.ready_channels)", "a pool woken directly"),
        ("    pool.wake()", "a pool woken directly"),
        ('    hub.changed(subscriber, {"type": "archive"})', "a hub told directly"),
        ("    request.app[HUB].changed(who, event)", "a hub told directly"),
        ("    svc.settings.drop(categories.cache_key(tenant_id))", "a cache dropped directly"),
        ("    self.svc.templates.forget(tenant_id, key)", "a cache dropped directly"),
        ("    await request.app[HUB].forget(Subscriber(t, u))", "a hub told directly"),
        ("        svc.fanout.submitted()", "a fan-out woken directly"),
        ("        svc.scheduler.register(sid, body.cron, body.timezone)", "a scheduler armed directly"),
    ],
)
def test_the_bypass_check_catches_a_direct_signal(line: str, caught: str) -> None:
    assert bypasses(line, "api/inbox.py") == [caught]


def test_nothing_in_the_package_signals_around_the_coordinator() -> None:
    modules = {path.relative_to(PACKAGE).as_posix(): path for path in PACKAGE.rglob("*.py")}
    assert "app.py" in modules, "the scan found too little to prove anything"
    found = {f"{module}: {name}" for module, path in modules.items() for name in bypasses(path.read_text(), module)}
    assert not found, "signal through the coordinator (coordination.py) instead: " + "; ".join(sorted(found))

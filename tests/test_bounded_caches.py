"""Hot-path caches hold at most their configured bound, forget the least recently used first,
and a change made through the server drops the entry at once (#19)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest

from alertflow import tenants
from alertflow.cache import Lru, TtlCache
from alertflow.config import CacheConfig, ConfigError, load
from alertflow.coordination import Cache
from alertflow.templates import sandbox
from alertflow.templates.render import render
from tests.conftest import FakeClock, StartApp
from tests.fakes.smtp import FakeSmtpServer
from tests.test_channels import set_channel, smtp


@pytest.fixture
def template_cache_size() -> Iterator[None]:
    """The compile caches are the process's: give them back their default size afterwards."""
    yield
    sandbox.size_caches(CacheConfig().templates)


def test_an_lru_forgets_the_least_recently_used_entry_and_says_so() -> None:
    evicted: list[tuple[str, int]] = []
    lru: Lru[str, int] = Lru(2, on_evict=lambda k, v: evicted.append((k, v)))
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "a" is now the more recent
    lru.put("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c")) == (1, None, 3)
    assert evicted == [("b", 2)]
    lru.resize(1)
    assert len(lru) == 1 and lru.get("c") == 3 and evicted[-1] == ("a", 1)


def test_an_lru_dropping_an_entry_does_not_report_it_evicted() -> None:
    evicted: list[str] = []
    lru: Lru[str, int] = Lru(2, on_evict=lambda k, _: evicted.append(k))
    lru.put("a", 1)
    assert lru.drop("a") == 1 and lru.drop("a") is None
    assert evicted == [] and len(lru) == 0


@pytest.mark.parametrize("size", [0, -1])
def test_an_lru_refuses_a_size_below_one(size: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Lru(size)


async def test_a_ttl_cache_holds_at_most_its_bound_of_live_entries() -> None:
    ttl = TtlCache(ttl=60.0, clock=FakeClock(0.0).now, max_entries=3)

    async def value() -> None:
        return None  # None is a value it caches too

    for key in range(9):
        await ttl.get(key, value)
    assert len(ttl) == 3


@pytest.mark.parametrize("key", ["templates", "template_versions", "keys", "settings", "channel_setups"])
def test_a_cache_size_below_one_is_a_config_error_naming_it(tmp_path: Path, key: str) -> None:
    path = tmp_path / "alertflow.toml"
    path.write_text(f"[cache]\n{key} = 0\n")
    with pytest.raises(ConfigError, match=rf"cache\.{key}"):
        load(path, env={})


def test_the_compile_cache_never_holds_more_than_its_bound(template_cache_size: None) -> None:
    sandbox.size_caches(10)
    seen = []
    for n in range(30):  # 3x the bound, every one distinct
        content = {"channels": {"sms": {"body": f"disk {n}: {{{{ used }}}}%"}}, "locales": {}}
        seen.append(render(content, "sms", {"used": 95})["body"])
        assert len(sandbox._CHECKED) <= 10 and len(sandbox._COMPILED) <= 10
    assert seen[29] == "disk 29: 95%"
    assert len(sandbox._COMPILED) == 10


@pytest.fixture
def serve_gc_tuning() -> Iterator[None]:
    """Collections as rare as `alertflow serve` makes them (cli.tune_interpreter)."""
    before = gc.get_threshold()
    gc.collect()
    gc.set_threshold(50_000, 20, 100)
    yield
    gc.set_threshold(*before)


def test_compiled_templates_pushed_out_of_the_cache_are_freed_although_collections_are_rare(
    template_cache_size: None, serve_gc_tuning: None
) -> None:
    sandbox.size_caches(10)
    compiled: weakref.WeakSet[jinja2.Template] = weakref.WeakSet()
    for n in range(200):  # 20x the bound, every one distinct
        content = {"channels": {"sms": {"body": f"disk {n}: {{{{ used }}}}%"}}, "locales": {}}
        assert render(content, "sms", {"used": 95})["body"] == f"disk {n}: 95%"
        compiled.update(sandbox._COMPILED.values())
    # Alive: the 10 cached, and at most a cache's worth pushed out since the last collection.
    assert len(compiled) <= 2 * 10


async def test_a_server_sized_by_cache_templates_holds_no_more_compiled_inline_templates(
    start_app: StartApp, template_cache_size: None
) -> None:
    app = await start_app(cache={"templates": 4})
    for n in range(12):
        body = {"to": {"phone": "+15558675310"}, "content": {"sms": {"body": f"#{n} at {{{{ used }}}}%"}}}
        done = await app.settled((await app.publish({**body, "data": {"used": n}}))["notifications"][0]["id"])
        assert [d["status"] for d in done["deliveries"]] == ["sent"]
    assert len(sandbox._COMPILED) <= 4


async def add_key(app: Any) -> str:
    issued = await app.svc.database.write(lambda tx: tenants.issue_key(tx, app.tenant_id, tenants.Role.member))
    return str(issued.api_key)


async def revoke(app: Any, key: str) -> None:
    digest = tenants.hash_key(key)
    await app.svc.database.write(
        lambda tx: tx.execute("UPDATE api_keys SET revoked_at = 1 WHERE secret_hash = ?", (digest,))
    )


async def status_with(app: Any, key: str) -> int:
    resp = await app.client.get("/v1/notifications", headers={"Authorization": f"Bearer {key}"})
    return int(resp.status)


async def test_a_key_revoked_through_the_coordinator_stops_at_once(start_app: StartApp) -> None:
    app = await start_app(clock=FakeClock(1_000_000.0))
    key = await add_key(app)
    assert await status_with(app, key) == 200  # now cached
    await revoke(app, key)
    app.svc.coordinator.invalidate(Cache.KEYS, tenants.hash_key(key))
    assert await status_with(app, key) == 401


async def test_a_key_revoked_by_another_process_stops_within_the_cache_ttl(start_app: StartApp) -> None:
    clock = FakeClock(1_000_000.0)
    app = await start_app(clock=clock)
    key = await add_key(app)
    assert await status_with(app, key) == 200
    await revoke(app, key)  # as the CLI would, unseen by this server's coordinator
    clock.t += 10.0
    assert await status_with(app, key) == 401


async def test_the_key_cache_holds_at_most_its_bound(start_app: StartApp) -> None:
    app = await start_app(clock=FakeClock(1_000_000.0), cache={"keys": 2})
    keys = [await add_key(app) for _ in range(5)]
    for key in keys:
        assert await status_with(app, key) == 200
    assert len(app.svc.auth_cache) == 2


async def test_a_provider_set_up_pushed_out_of_the_cache_closes_its_connections(
    start_app: StartApp, fake_smtp: FakeSmtpServer
) -> None:
    app = await start_app(cache={"channel_setups": 1})
    mail = {"email": {"subject": "Disk alert", "text": "/var is 95% full"}}
    providers = []
    for name in ("First", "Second"):
        resp = await set_channel(app, "email", smtp(fake_smtp, from_name=name))
        assert resp.status == 200, await resp.text()
        done = await app.settled(
            (await app.publish({"to": {"email": "ann@example.com"}, "content": mail}))["notifications"][0]["id"]
        )
        assert [d["status"] for d in done["deliveries"]] == ["sent"]
        providers += [h.provider for h in app.svc.channels._handles.values()]
    first, second = providers
    assert first is not second and len(app.svc.channels._handles) == 1
    await app.until(lambda: first._pool._closed and not first._pool._idle)
    assert not second._pool._closed
    assert [m.message["From"].addresses[0].display_name for m in fake_smtp.messages] == ["First", "Second"]

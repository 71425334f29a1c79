"""The TTL cache: an entry is served until it expires, and expired entries do not pile up."""

from __future__ import annotations

from alertflow import cache
from alertflow.cache import TtlCache
from tests.conftest import FakeClock


async def test_an_entry_is_served_until_its_ttl_passes_then_loaded_again() -> None:
    clock, loads = FakeClock(0.0), []

    async def load() -> int:
        loads.append(clock.t)
        return len(loads)

    ttl = TtlCache(ttl=1.0, clock=clock.now)
    assert [await ttl.get("k", load), await ttl.get("k", load)] == [1, 1]
    clock.t = 1.5
    assert await ttl.get("k", load) == 2
    ttl.drop("k")
    assert await ttl.get("k", load) == 3


async def test_a_full_cache_forgets_its_expired_entries_when_it_stores_one() -> None:
    clock = FakeClock(0.0)
    ttl = TtlCache(ttl=1.0, clock=clock.now)

    async def value() -> str:
        return "v"

    for key in range(cache.MAX_ENTRIES):
        await ttl.get(key, value)
    clock.t = 2.0  # all of them expired
    await ttl.get("fresh", value)
    assert len(ttl) == 1

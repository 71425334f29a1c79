"""The TTL cache: an entry is served until it expires, and expired entries do not pile up."""

from __future__ import annotations

import asyncio

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


async def test_callers_that_miss_together_share_one_load() -> None:
    loads, release = [], asyncio.Event()

    async def load() -> int:
        loads.append(1)
        await release.wait()
        return len(loads)

    ttl = TtlCache(ttl=1.0, clock=FakeClock(0.0).now)
    waiting = [asyncio.create_task(ttl.get("k", load)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [1] * 50
    assert len(loads) == 1
    assert await ttl.get("k", load) == 1  # stored: no load more


async def test_a_load_that_fails_fails_every_caller_and_stores_nothing() -> None:
    release, calls = asyncio.Event(), []

    async def failing() -> int:
        calls.append(1)
        await release.wait()
        raise OSError("database gone")

    async def working() -> int:
        return 7

    ttl = TtlCache(ttl=1.0, clock=FakeClock(0.0).now)
    waiting = [asyncio.create_task(ttl.get("k", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert [type(r) for r in results] == [OSError] * 3 and len(calls) == 1
    assert await ttl.get("k", working) == 7  # the next caller loads again


async def test_a_caller_that_gives_up_does_not_cancel_the_others_load() -> None:
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "v"

    ttl = TtlCache(ttl=1.0, clock=FakeClock(0.0).now)
    impatient, patient = asyncio.create_task(ttl.get("k", load)), asyncio.create_task(ttl.get("k", load))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert await patient == "v"
    assert impatient.cancelled()


async def test_a_value_dropped_while_it_loaded_is_not_stored_and_the_next_caller_loads_anew() -> None:
    started, release, version = asyncio.Event(), asyncio.Event(), ["before the change"]

    async def load() -> str:
        seen = version[0]
        started.set()
        await release.wait()
        return seen

    async def reload() -> str:
        return version[0]

    ttl = TtlCache(ttl=60.0, clock=FakeClock(0.0).now)
    early = asyncio.create_task(ttl.get("k", load))
    await started.wait()
    version[0] = "after the change"
    ttl.drop("k")  # the write's invalidation, while the early load is under way
    assert await ttl.get("k", reload) == "after the change"
    release.set()
    assert await early == "before the change"  # its caller asked before the change
    await asyncio.sleep(0)
    assert await ttl.get("k", reload) == "after the change"  # the stale value was not stored

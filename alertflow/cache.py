"""The one cache mechanism: a bounded map that forgets the least recently used entry first,
and, on top of it, a TTL cache for what is read far more often than it changes (tenant
settings every publish reads, API keys every request presents, a big batch's progress).

Every cache on a hot path is bounded ([cache] in alertflow.toml): keys that never repeat
(inline template sources, batch ids, made-up API keys) must not grow memory for good.
A write through this process drops its entry at once (``Coordinator.invalidate``); the TTL
bounds how long a write by another process (the CLI, or a second node on shared storage)
can go unseen.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

SETTINGS_TTL_SECONDS = 5.0
# The bound of a cache built without one: [cache] in alertflow.toml sizes the server's own.
MAX_ENTRIES = 1024

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
# What a TTL cache lookup finds for a missing or expired entry: None is a value it caches.
_MISS = object()


class Lru(Generic[K, V]):
    """At most ``size`` entries; storing one more forgets the least recently used (read or
    stored). ``on_evict`` is told of each entry forgotten for room (not of ``drop``).

    Safe across threads (templates compile in worker threads): each call holds a lock.
    """

    def __init__(self, size: int = MAX_ENTRIES, on_evict: Callable[[K, V], None] | None = None) -> None:
        self._on_evict = on_evict
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.size: int
        self.resize(size)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            evicted = self._trim()
        self._tell(evicted)

    def resize(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"an LRU cache holds at least 1 entry, not {size}")
        with self._lock:
            self.size = size
            evicted = self._trim()
        self._tell(evicted)

    def drop(self, key: K) -> V | None:
        with self._lock:
            return self._entries.pop(key, None)

    def values(self) -> list[V]:
        with self._lock:
            return list(self._entries.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def retain(self, keep: Callable[[K, V], bool]) -> None:
        """Forget every entry ``keep`` refuses."""
        with self._lock:
            for key in [k for k, v in self._entries.items() if not keep(k, v)]:
                del self._entries[key]

    def _trim(self) -> list[tuple[K, V]]:
        evicted = []
        while len(self._entries) > self.size:
            evicted.append(self._entries.popitem(last=False))
        return evicted

    def _tell(self, evicted: list[tuple[K, V]]) -> None:
        # Outside the lock: the callback may use the cache.
        if self._on_evict is not None:
            for key, value in evicted:
                self._on_evict(key, value)


class CycleCollector:
    """Frees evicted values that are reference cycles, such as compiled templates (their
    render functions and the module namespace those run in). Only a full collection frees a
    cycle, and serve's GC tuning (cli.tune_interpreter) makes those rare: 7,662 compiled
    templates were alive behind a bound of 1,000 after 20,000 publishes cycling 10,000
    distinct inline templates, RSS growing 24 MiB per 10,000 (#19). So a full collection
    runs each time a cache's worth has been evicted: for compiled templates once per
    ``[cache] templates`` compiles of ~2 ms each, which the pass (13-20 ms on a loaded
    2-core machine: start-up objects are frozen out of it) adds about 1% to.
    """

    def __init__(self) -> None:
        self._evicted = 0

    def evicted(self, size: int) -> None:
        """Call from an :class:`Lru`'s ``on_evict``; ``size`` is that cache's bound."""
        self._evicted += 1
        if self._evicted >= size:
            self._evicted = 0
            gc.collect()


class TtlCache:
    """An :class:`Lru` of ``max_entries`` whose entries also expire ``ttl`` seconds after they
    were loaded."""

    def __init__(
        self,
        ttl: float = SETTINGS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: Lru[Hashable, tuple[float, Any]] = Lru(max_entries)
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}  # loads under way, by key

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """The unexpired value, else what ``load()`` returns, stored. Callers that miss at once
        share one load: when a tenant's settings expired under load, every request in flight
        read them again (50 reads each time with 50 clients publishing)."""
        hit = self._lookup(key)
        if hit is not _MISS:
            return hit
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(load())
            self._loading[key] = loading
            loading.add_done_callback(functools.partial(self._loaded, key))
        # One caller giving up (a client gone) does not cancel the others' load.
        return await asyncio.shield(loading)

    def _loaded(self, key: Hashable, loading: asyncio.Future[Any]) -> None:
        # Asked here, so a failure whose callers all gave up is not logged as never retrieved.
        failed = loading.cancelled() or loading.exception() is not None
        if self._loading.get(key) is not loading:
            return  # dropped while it loaded: the value may be older than the change
        del self._loading[key]
        if not failed:
            self.put(key, loading.result())

    def peek(self, key: Hashable) -> Any:
        """The unexpired value, or None."""
        hit = self._lookup(key)
        return None if hit is _MISS else hit

    def _lookup(self, key: Hashable) -> Any:
        hit = self._entries.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        return _MISS

    def put(self, key: Hashable, value: Any) -> None:
        now = self.clock()
        if len(self._entries) >= self._entries.size:
            # Expired entries go before live ones are evicted (batch ids never repeat).
            self._entries.retain(lambda _, entry: entry[0] > now)
        self._entries.put(key, (now + self.ttl, value))

    def drop(self, key: Hashable) -> None:
        self._loading.pop(key, None)
        self._entries.drop(key)

    def clear(self) -> None:
        self._loading.clear()
        self._entries.clear()

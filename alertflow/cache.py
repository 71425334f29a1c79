"""A small cache for what is read far more often than it changes: tenant settings that
every publish reads, a big batch's progress that dashboards poll.

A write through this process drops its entry at once; the TTL bounds how long a write by
another process (the CLI, or a second node on shared storage) can go unseen.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

SETTINGS_TTL_SECONDS = 5.0
# Past this many entries, storing one first forgets the expired ones (batch ids never repeat).
MAX_ENTRIES = 1024


class TtlCache:
    def __init__(self, ttl: float = SETTINGS_TTL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        now = self.clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        if len(self._entries) >= MAX_ENTRIES:
            self._entries = {k: entry for k, entry in self._entries.items() if entry[0] > now}
        self._entries[key] = (now + self.ttl, value)
        return value

    def drop(self, key: Hashable) -> None:
        self._entries.pop(key, None)

"""The coordinator: the one seam for what one node tells the parts that act on it.

Signals and one shared state, each typed, each sent *after* the commit it reports:

- ``jobs_ready(channels)`` / ``jobs_waiting()``: ready jobs were committed, so idle worker
  pools claim now; a waiting job was committed, so the queue timer looks again sooner.
- ``batches_waiting()``: a bulk batch was committed, so every fan-out looks for work.
- ``schedule_changed(id, cron, timezone)``: a schedule was created, resumed (cron set) or
  paused or deleted (cron None), so every scheduler re-arms or drops its timer.
- ``user_erased(tenant, user)``: every hub closes the user's sockets.
- ``inbox_item(tenant, user, item_id)`` / ``inbox_changed(tenant, user, event)``: an in-app
  item was stored, or read, read-all or archived: every hub pushes it to the user's sockets.
- ``invalidate(cache, key)``: a write made a cached read stale: every holder drops the entry.
- ``take(limit, key, rate, burst)``: a token of a rate limit whose state the coordinator
  holds, so that it can be shared where the nodes are.

Parts that act subscribe with ``on_*``; whoever commits calls the signal and never the part
itself, so a signal raised on one node can reach the handlers of every node. ``on_resync``
handlers run when this node may have missed signals (a cluster node's link to the others
was cut): they drop every cached entry and look for work as if signalled.
``InProcessCoordinator`` calls the handlers at once, in the caller's call: one process
serves a data dir, and publish→sent latency keeps no extra hop. A cluster coordinator
(LISTEN/NOTIFY on PostgreSQL) sends each signal to the other nodes as well.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .providers.resilience import TokenBucket

# A cache entry's key: strings only, so a signal can travel as JSON (a tuple arrives as a list).
CacheKey = str | tuple[str, ...]
Event = dict[str, Any]  # an inbox event as the WebSocket sends it: JSON
JobsReady = Callable[[frozenset[str]], None]
JobsWaiting = Callable[[], None]
InboxItem = Callable[[str, str, str], None]  # tenant_id, user_id, item_id
InboxChanged = Callable[[str, str, Event], None]  # tenant_id, user_id, event
Invalidate = Callable[[CacheKey], None]
BatchesWaiting = Callable[[], None]
ScheduleChanged = Callable[[str, str | None, str | None], None]  # schedule id, cron, timezone
UserErased = Callable[[str, str], None]  # tenant_id, user_id
Resync = Callable[[], None]


class Cache(enum.StrEnum):
    """The caches a write can make stale; each names what its keys are."""

    SETTINGS = "settings"  # categories.cache_key / preferences.cache_key
    BATCH_COUNTS = "batch_counts"  # batch id
    CHANNELS = "channels"  # (tenant_id, channel): a tenant's provider set-up
    TEMPLATES = "templates"  # (tenant_id, key): a deleted template's versions
    KEYS = "keys"  # an API key's hash (tenants.hash_key): a revoked key stops at once
    WEBHOOKS = "webhooks"  # tenant id: which status events its endpoints take


class Limit(enum.StrEnum):
    """The rate limits whose buckets the coordinator holds."""

    PUBLISH = "publish"  # per tenant: [limits] publish_per_second


class Coordinator(Protocol):
    def jobs_ready(self, channels: Iterable[str]) -> None: ...
    def jobs_waiting(self) -> None: ...
    def inbox_item(self, tenant_id: str, user_id: str, item_id: str) -> None: ...
    def inbox_changed(self, tenant_id: str, user_id: str, event: Event) -> None: ...
    def invalidate(self, cache: Cache, key: CacheKey) -> None: ...
    def batches_waiting(self) -> None: ...
    def schedule_changed(self, schedule_id: str, cron: str | None, timezone: str | None) -> None: ...
    def user_erased(self, tenant_id: str, user_id: str) -> None: ...

    async def take(self, limit: Limit, key: str, rate: float, burst: float) -> float:
        """Take a token from ``key``'s bucket: 0.0, or the seconds until one will be there
        (and none is taken). A cluster's answer may be off by its stated tolerance."""
        ...

    def on_jobs_ready(self, handler: JobsReady) -> None: ...
    def on_jobs_waiting(self, handler: JobsWaiting) -> None: ...
    def on_inbox_item(self, handler: InboxItem) -> None: ...
    def on_inbox_changed(self, handler: InboxChanged) -> None: ...
    def on_invalidate(self, cache: Cache, handler: Invalidate) -> None: ...
    def on_batches_waiting(self, handler: BatchesWaiting) -> None: ...
    def on_schedule_changed(self, handler: ScheduleChanged) -> None: ...
    def on_user_erased(self, handler: UserErased) -> None: ...
    def on_resync(self, handler: Resync) -> None: ...


class InProcessCoordinator:
    """One node: each signal calls its handlers directly; buckets live in memory (a restart
    forgiving a tenant's debt costs nothing)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._jobs_ready: list[JobsReady] = []
        self._jobs_waiting: list[JobsWaiting] = []
        self._inbox_item: list[InboxItem] = []
        self._inbox_changed: list[InboxChanged] = []
        self._invalidate: dict[Cache, list[Invalidate]] = {}
        self._batches_waiting: list[BatchesWaiting] = []
        self._schedule_changed: list[ScheduleChanged] = []
        self._user_erased: list[UserErased] = []
        self._resync: list[Resync] = []
        self._buckets: dict[tuple[Limit, str], TokenBucket] = {}

    def jobs_ready(self, channels: Iterable[str]) -> None:
        ready = frozenset(channels)
        if ready:
            for handler in self._jobs_ready:
                handler(ready)

    def jobs_waiting(self) -> None:
        for handler in self._jobs_waiting:
            handler()

    def inbox_item(self, tenant_id: str, user_id: str, item_id: str) -> None:
        for handler in self._inbox_item:
            handler(tenant_id, user_id, item_id)

    def inbox_changed(self, tenant_id: str, user_id: str, event: Event) -> None:
        for handler in self._inbox_changed:
            handler(tenant_id, user_id, event)

    def invalidate(self, cache: Cache, key: CacheKey) -> None:
        for handler in self._invalidate.get(cache, ()):
            handler(key)

    def batches_waiting(self) -> None:
        for handler in self._batches_waiting:
            handler()

    def schedule_changed(self, schedule_id: str, cron: str | None, timezone: str | None) -> None:
        for handler in self._schedule_changed:
            handler(schedule_id, cron, timezone)

    def user_erased(self, tenant_id: str, user_id: str) -> None:
        for handler in self._user_erased:
            handler(tenant_id, user_id)

    def resync(self) -> None:
        """Run the ``on_resync`` handlers: one process misses nothing, so only a cluster's
        coordinator (after its link was cut) and tests call this."""
        for handler in self._resync:
            handler()

    async def take(self, limit: Limit, key: str, rate: float, burst: float) -> float:
        bucket = self._buckets.get((limit, key))
        if bucket is None:
            bucket = self._buckets[(limit, key)] = TokenBucket(rate, burst, self.clock)
        wait = bucket.reserve()
        if wait:
            bucket.cancel()  # a refusal costs nothing
        return wait

    def on_jobs_ready(self, handler: JobsReady) -> None:
        self._jobs_ready.append(handler)

    def on_jobs_waiting(self, handler: JobsWaiting) -> None:
        self._jobs_waiting.append(handler)

    def on_inbox_item(self, handler: InboxItem) -> None:
        self._inbox_item.append(handler)

    def on_inbox_changed(self, handler: InboxChanged) -> None:
        self._inbox_changed.append(handler)

    def on_invalidate(self, cache: Cache, handler: Invalidate) -> None:
        self._invalidate.setdefault(cache, []).append(handler)

    def on_batches_waiting(self, handler: BatchesWaiting) -> None:
        self._batches_waiting.append(handler)

    def on_schedule_changed(self, handler: ScheduleChanged) -> None:
        self._schedule_changed.append(handler)

    def on_user_erased(self, handler: UserErased) -> None:
        self._user_erased.append(handler)

    def on_resync(self, handler: Resync) -> None:
        self._resync.append(handler)

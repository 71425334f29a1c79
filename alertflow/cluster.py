"""The cluster coordinator: several ``alertflow serve`` nodes on one PostgreSQL act as one.

Each signal (coordination.py) calls this node's handlers at once, in the caller's call, as
the in-process coordinator does, so the local path keeps no extra hop. It is also queued
for the other nodes: a flusher task sends what queued up meanwhile as NOTIFYs on one channel
(storage/listen_notify.py), each a JSON payload ``{"n": node id, "s": [[signal, args...]]}``
under PostgreSQL's 8000-byte limit. A burst of ``jobs_ready`` (a publish per request under
load) coalesces into one entry naming the channels, as do ``jobs_waiting`` and
``batches_waiting``. Every node hears every payload, its own too: it skips its own by the
node id and hands the others' signals to its handlers.

The publish rate limit's buckets are rows in the database (:class:`SharedBuckets`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from .coordination import (
    BatchesWaiting,
    Cache,
    CacheKey,
    Event,
    InboxChanged,
    InboxItem,
    InProcessCoordinator,
    Invalidate,
    JobsReady,
    JobsWaiting,
    Limit,
    Resync,
    ScheduleChanged,
    UserErased,
)
from .message import CHANNELS
from .ops.metrics import metric
from .storage import rate_buckets
from .storage.database import Database
from .storage.listen_notify import MAX_PAYLOAD_BYTES, Link, LinkDown

log = logging.getLogger("alertflow.cluster")

# A send that failed is tried again after this long, its signals kept (see _flush).
RESEND_SECONDS = 0.5
# Wake-ups alone (jobs_ready, jobs_waiting, batches_waiting) go at most this often. Under load
# a commit every few milliseconds had sent one each: a NOTIFY every node hears, and ~6% of the
# sending node's event loop at 3,000 publishes/s. The first after a quiet spell still goes at
# once, and any other signal (an inbox item, a cache invalidation) cuts the wait short.
WAKE_SPACING_SECONDS = 0.02
# Signals kept for other nodes while the database cannot be reached. Past this the oldest go:
# every node's listener was cut too, and its resync (drop every cache, look for work) makes
# up for all of them; an inbox socket that missed an item gets it with its next ?since=.
MAX_QUEUED_SIGNALS = 10_000
# What a node takes from a shared bucket at once, as a share of a second's rate: the slack
# that saves a database round trip per publish (see SharedBuckets).
CHUNK_SECONDS = 0.05

Signal = list[Any]  # [name, args...], as it travels


def chunk_size(rate: float, burst: float) -> int:
    """Tokens a node takes from a shared bucket at once: 5% of a second's rate, at least one,
    at most the burst."""
    return max(1, min(int(burst), math.floor(rate * CHUNK_SECONDS)))


class SharedBuckets:
    """Token buckets every node shares, as rows in the database.

    A node takes :func:`chunk_size` tokens at a time and spends them locally, so only one
    publish in a chunk costs a round trip. Tolerance: the shared bucket never grants more
    than the limit, and a node holds fewer than a chunk of granted tokens unspent, which it
    may spend later; so in any window the nodes together admit at most
    ``nodes × (chunk - 1)`` requests over the limit (with one token a chunk, none), given
    clocks kept in step (NTP). A refusal is remembered until the bucket will have a token
    again: no node can make one appear sooner, so it costs no round trip either.
    """

    def __init__(self, database: Database, clock: Callable[[], float]) -> None:
        self.database = database
        self.clock = clock
        self._held: dict[tuple[Limit, str], int] = {}
        self._empty_until: dict[tuple[Limit, str], float] = {}
        self._locks: dict[tuple[Limit, str], asyncio.Lock] = {}
        self.round_trips = 0  # for the tests' bound and /metrics

    async def take(self, limit: Limit, key: str, rate: float, burst: float) -> float:
        bucket = (limit, key)
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        async with lock:  # one refill in flight per bucket: a node never holds two chunks
            now = self.clock()
            empty_until = self._empty_until.get(bucket, 0.0)
            if empty_until > now:
                return empty_until - now
            held = self._held.get(bucket, 0)
            if held:
                self._held[bucket] = held - 1
                return 0.0
            want = chunk_size(rate, burst)
            self.round_trips += 1
            taken = await self.database.write(lambda tx: rate_buckets.take(tx, limit, key, rate, burst, want, now))
            if not taken.granted:
                self._empty_until[bucket] = now + taken.wait
                return taken.wait
            self._held[bucket] = taken.granted - 1
            return 0.0


class ClusterCoordinator:
    """A :class:`coordination.Coordinator` whose signals reach every node on the database."""

    def __init__(
        self,
        url: str,
        password: str | None,
        database: Database,
        clock: Callable[[], float],
        wake_spacing: float = WAKE_SPACING_SECONDS,
    ) -> None:
        self.node_id = ""  # known once the data dir is locked (start)
        self.local = InProcessCoordinator(clock)
        self.buckets = SharedBuckets(database, clock)
        self.link = Link(url, password, self._heard, self._connected)
        self.sent: Counter[str] = Counter()  # signals sent to and heard from other nodes, for /metrics
        self.heard: Counter[str] = Counter()
        self._ready: set[str] = set()
        self._waiting = False
        self._batches = False
        self._queued: list[Signal] = []
        self._pending = asyncio.Event()
        self._urgent = asyncio.Event()  # a signal other than a wake-up is queued
        self._wake_spacing = wake_spacing
        self._flusher: asyncio.Task[None] | None = None

    async def start(self, node_id: str) -> None:
        """Listen, and send what is signalled, as ``node_id`` (app.node_id: unique per node)."""
        self.node_id = node_id
        self.link.start()
        self._flusher = asyncio.create_task(self._flush(), name="cluster-send")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.link.close()

    def metrics(self) -> str:
        """Prometheus lines: what crossed the wire, and how often it was cut."""
        lines: list[str] = []
        for name, counts, text in (
            ("alertflow_cluster_signals_sent_total", self.sent, "Signals sent to the other nodes, by signal."),
            ("alertflow_cluster_signals_heard_total", self.heard, "Signals heard from other nodes, by signal."),
        ):
            metric(lines, name, "counter", text, [(f'signal="{s}"', n) for s, n in sorted(counts.items())])
        metric(
            lines,
            "alertflow_cluster_reconnects_total",
            "counter",
            "Times the link to the other nodes was cut and joined again.",
            [("", self.link.reconnects)],
        )
        metric(
            lines,
            "alertflow_cluster_rate_limit_round_trips_total",
            "counter",
            "Shared rate-limit buckets asked for tokens.",
            [("", self.buckets.round_trips)],
        )
        return "\n".join(lines) + "\n"

    # -- signals: here at once, elsewhere soon

    def jobs_ready(self, channels: Iterable[str]) -> None:
        ready = frozenset(channels)
        if ready:
            self.local.jobs_ready(ready)
            self._ready |= ready
            self._pending.set()

    def jobs_waiting(self) -> None:
        self.local.jobs_waiting()
        self._waiting = True
        self._pending.set()

    def batches_waiting(self) -> None:
        self.local.batches_waiting()
        self._batches = True
        self._pending.set()

    def inbox_item(self, tenant_id: str, user_id: str, item_id: str) -> None:
        self.local.inbox_item(tenant_id, user_id, item_id)
        self._queue(["inbox_item", tenant_id, user_id, item_id])

    def inbox_changed(self, tenant_id: str, user_id: str, event: Event) -> None:
        self.local.inbox_changed(tenant_id, user_id, event)
        self._queue(["inbox_changed", tenant_id, user_id, event])

    def invalidate(self, cache: Cache, key: CacheKey) -> None:
        self.local.invalidate(cache, key)
        self._queue(["invalidate", cache.value, key])

    def schedule_changed(self, schedule_id: str, cron: str | None, timezone: str | None) -> None:
        self.local.schedule_changed(schedule_id, cron, timezone)
        self._queue(["schedule_changed", schedule_id, cron, timezone])

    def user_erased(self, tenant_id: str, user_id: str) -> None:
        self.local.user_erased(tenant_id, user_id)
        self._queue(["user_erased", tenant_id, user_id])

    async def take(self, limit: Limit, key: str, rate: float, burst: float) -> float:
        return await self.buckets.take(limit, key, rate, burst)

    def _queue(self, signal: Signal) -> None:
        self._queued.append(signal)
        if len(self._queued) > MAX_QUEUED_SIGNALS:
            del self._queued[: len(self._queued) - MAX_QUEUED_SIGNALS]
        self._pending.set()
        self._urgent.set()

    # -- subscriptions: this node's handlers

    def on_jobs_ready(self, handler: JobsReady) -> None:
        self.local.on_jobs_ready(handler)

    def on_jobs_waiting(self, handler: JobsWaiting) -> None:
        self.local.on_jobs_waiting(handler)

    def on_inbox_item(self, handler: InboxItem) -> None:
        self.local.on_inbox_item(handler)

    def on_inbox_changed(self, handler: InboxChanged) -> None:
        self.local.on_inbox_changed(handler)

    def on_invalidate(self, cache: Cache, handler: Invalidate) -> None:
        self.local.on_invalidate(cache, handler)

    def on_batches_waiting(self, handler: BatchesWaiting) -> None:
        self.local.on_batches_waiting(handler)

    def on_schedule_changed(self, handler: ScheduleChanged) -> None:
        self.local.on_schedule_changed(handler)

    def on_user_erased(self, handler: UserErased) -> None:
        self.local.on_user_erased(handler)

    def on_resync(self, handler: Resync) -> None:
        self.local.on_resync(handler)

    # -- the wire

    def _drain(self) -> list[Signal]:
        signals: list[Signal] = []
        if self._ready:
            signals.append(["jobs_ready", sorted(self._ready)])
        if self._waiting:
            signals.append(["jobs_waiting"])
        if self._batches:
            signals.append(["batches_waiting"])
        signals += self._queued
        self._ready, self._waiting, self._batches, self._queued = set(), False, False, []
        return signals

    async def _flush(self) -> None:
        """Send what was signalled since the last send; one send in flight at a time, so a
        burst arriving meanwhile goes out together in the next. Wake-ups alone wait out the
        spacing since the last send (see WAKE_SPACING_SECONDS)."""
        loop = asyncio.get_running_loop()
        last_sent = -math.inf
        while True:
            await self._pending.wait()
            await self._spaced(last_sent + self._wake_spacing - loop.time())
            self._pending.clear()
            signals = self._drain()
            last_sent = loop.time()
            try:
                await self.link.send(payloads(self.node_id, signals))
            except LinkDown as exc:
                log.warning("cluster signals not sent; retrying", extra={"error": str(exc)})
                self._queued = signals + self._queued  # coalesced ones are lists again: fine
                del self._queued[: max(0, len(self._queued) - MAX_QUEUED_SIGNALS)]
                self._pending.set()
                await asyncio.sleep(RESEND_SECONDS)
                continue
            self.sent.update(s[0] for s in signals)

    async def _spaced(self, wait: float) -> None:
        """Let wake-ups gather for ``wait`` seconds, unless another signal is queued or comes."""
        if wait <= 0 or self._queued:
            return
        self._urgent.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._urgent.wait(), wait)

    def _heard(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            if message["n"] == self.node_id:
                return  # our own, already handled at once
            for signal in message["s"]:
                self.heard[signal[0]] += 1
                self._dispatch(signal)
        except Exception:  # one bad payload (a newer node's signal) must not deafen this one
            log.exception("cluster signal not understood", extra={"payload": payload[:200]})

    def _dispatch(self, signal: Signal) -> None:
        """Another node's signal, to this node's handlers only (never sent on again)."""
        name, args = signal[0], signal[1:]
        local = self.local
        if name == "jobs_ready":
            local.jobs_ready(args[0])
        elif name == "jobs_waiting":
            local.jobs_waiting()
        elif name == "batches_waiting":
            local.batches_waiting()
        elif name == "inbox_item":
            local.inbox_item(*args)
        elif name == "inbox_changed":
            local.inbox_changed(*args)
        elif name == "invalidate":
            key = args[1]
            local.invalidate(Cache(args[0]), tuple(key) if isinstance(key, list) else key)
        elif name == "schedule_changed":
            local.schedule_changed(*args)
        elif name == "user_erased":
            local.user_erased(*args)
        else:
            log.warning("unknown cluster signal", extra={"signal": name})

    def _connected(self, first: bool) -> None:
        """The listener is (again) up. After a reconnect this node may have missed anything
        the others signalled while it was deaf, as PostgreSQL keeps no notification for an
        absent listener: so it acts as if it had heard all of it. Its pools claim on every
        channel, its timer and fan-out look, its schedulers re-arm from the database, and
        every cache drops everything, since any of it may have been changed unheard."""
        if first:  # start-up reads everything anyway
            return
        log.info("cluster resync after reconnect")
        self.local.jobs_ready(CHANNELS)
        self.local.jobs_waiting()
        self.local.batches_waiting()
        self.local.resync()


def payloads(node_id: str, signals: list[Signal]) -> list[str]:
    """The signals as NOTIFY payloads, each under PostgreSQL's limit, in order."""
    head = f'{{"n":{json.dumps(node_id)},"s":['
    out: list[str] = []
    parts: list[str] = []
    size = len(head) + 2
    for signal in signals:
        encoded = json.dumps(signal, separators=(",", ":"))  # ASCII: characters are bytes
        if len(head) + len(encoded) + 2 > MAX_PAYLOAD_BYTES:
            log.warning("cluster signal too large to send; dropped", extra={"signal": signal[0]})
            continue
        if parts and size + len(encoded) + 1 > MAX_PAYLOAD_BYTES:
            out.append(head + ",".join(parts) + "]}")
            parts, size = [], len(head) + 2
        parts.append(encoded)
        size += len(encoded) + 1
    if parts:
        out.append(head + ",".join(parts) + "]}")
    return out

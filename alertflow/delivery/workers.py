"""Worker pools, one per channel, and the timer that makes waiting jobs ready.

Each pool claims jobs in batches up to its free capacity and sends each in its own task,
so a slow channel (SMTP) never holds up another (in-app). An idle pool sleeps on an event
that publishing sets right after its commit: no polling delay. A sweep every
``SWEEP_SECONDS`` also wakes them, for jobs another process (a CLI replay) made ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import NamedTuple

from ..coordination import Coordinator
from ..storage import jobs as stored_jobs
from ..storage.database import Database, StorageFull, Tx
from . import queue
from .deliverer import Deliverer
from .queue import Decision, Job

log = logging.getLogger("alertflow.workers")
SWEEP_SECONDS = 1.0


class Stopped(NamedTuple):
    """What a stop did with the sends in flight when it began."""

    drained: int  # finished within the shutdown timeout
    released: int  # cut off and returned to the queue, their attempt uncounted


class ChannelPool:
    """Sends one channel's jobs with at most ``concurrency`` in flight."""

    def __init__(
        self,
        channel: str,
        concurrency: int,
        database: Database,
        deliverer: Deliverer,
        clock: Callable[[], float],
        lease_seconds: float,
        node_id: str,
    ) -> None:
        self.channel = channel
        self.concurrency = concurrency
        self.database = database
        self.deliverer = deliverer
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.node_id = node_id  # recorded on each lease: see WorkerPools.start
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._stopping = False
        self._inflight: dict[asyncio.Task[None], Job] = {}
        self._runner: asyncio.Task[None] | None = None
        # The tenant served last: the next claim starts its turn after it (jobs.claim).
        self._last_tenant = ""

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name=f"pool-{self.channel}")

    @property
    def running(self) -> bool:
        return self._runner is not None and not self._runner.done()

    async def _run(self) -> None:
        while not self._stopping:
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            # Cleared before the claim: a publish committed during it still wakes us.
            self._wake.clear()
            if self.database.full:
                # A send now could not be recorded (and would be sent again once its lease
                # ran out): wait for the timer to find space again; it wakes us each sweep.
                await self._wake.wait()
                continue
            limit = min(free, queue.CLAIM_BATCH)
            try:
                jobs = await self._claim(limit)
            except StorageFull:  # logged by the writer; the next loop waits for space
                jobs = []
            except Exception:
                log.exception("claim failed", extra={"channel": self.channel})
                jobs = []
                await asyncio.sleep(SWEEP_SECONDS)
            for job in jobs:
                task = asyncio.create_task(self._send(job))
                self._inflight[task] = job
                task.add_done_callback(self._done)
            # Fewer than asked for: the queue is empty for now, so sleep until a commit wakes us.
            if len(jobs) < limit and not self._stopping:
                await self._wake.wait()

    async def _claim(self, limit: int) -> list[Job]:
        now, after = self.clock(), self._last_tenant
        jobs = await self.database.write(
            lambda tx: stored_jobs.claim(tx, self.channel, limit, now, self.lease_seconds, after, self.node_id)
        )
        if jobs:
            self._last_tenant = jobs[-1].tenant_id
        return jobs

    async def _send(self, job: Job) -> None:
        try:
            await self.deliverer.deliver(job)
        except asyncio.CancelledError:
            raise
        except StorageFull as exc:  # not recorded: the lease will expire and the job return
            log.warning("outcome not recorded: %s", exc, extra={"delivery_id": job.delivery_id})
        except Exception:  # recording failed; the lease will expire and the job return
            log.exception("delivery crashed", extra={"delivery_id": job.delivery_id})

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        self._slot_free.set()

    async def stop(self, timeout: float) -> Stopped:
        """Stop claiming; let in-flight sends finish up to ``timeout``; release the rest."""
        self._stopping = True
        self._wake.set()
        self._slot_free.set()
        if self._runner:
            await self._runner
        in_flight = len(self._inflight)
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=timeout)
        unfinished = dict(self._inflight)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
            now = self.clock()
            jobs = list(unfinished.values())
            try:
                await self.database.write(lambda tx: stored_jobs.release(tx, jobs, now))
            except StorageFull:  # still leased: the next start takes its own leases back
                log.warning("unfinished sends not released: storage is full", extra={"channel": self.channel})
                return Stopped(drained=in_flight - len(unfinished), released=0)
            log.warning("released unfinished sends", extra={"channel": self.channel, "count": len(jobs)})
        return Stopped(drained=in_flight - len(unfinished), released=len(unfinished))


class WorkerPools:
    """Every channel's pool plus the timer that promotes due jobs and expires leases.

    Commits wake them through the coordinator (``jobs_ready``, ``jobs_waiting``), never directly.
    """

    def __init__(
        self,
        pools: Iterable[ChannelPool],
        database: Database,
        clock: Callable[[], float],
        node_id: str,
        coordinator: Coordinator,
    ) -> None:
        self.pools = {p.channel: p for p in pools}
        self.database = database
        self.clock = clock
        self.node_id = node_id
        self.coordinator = coordinator
        self._timer_wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        coordinator.on_jobs_ready(self.ready)
        coordinator.on_jobs_waiting(self.scheduled)

    async def start(self) -> None:
        # Leases this node took before a crash are stale (no send of ours is in flight yet):
        # their jobs go back at once rather than after a lease. Another node's leases may
        # still be sending, so they go back only once expired. The node id outlives a restart
        # (app.node_id), so a restarted server recognises its own.
        now = self.clock()
        await self.database.write(lambda tx: stored_jobs.expire_leases(tx, now, self.node_id))
        for pool in self.pools.values():
            pool.start()
        self._timer = asyncio.create_task(self._run_timer(), name="queue-timer")

    @property
    def running(self) -> bool:
        return all(p.running for p in self.pools.values()) and self._timer is not None and not self._timer.done()

    def ready(self, channels: Iterable[str]) -> None:
        """Jobs were committed as ready on these channels."""
        for channel in channels:
            pool = self.pools.get(channel)
            if pool:
                pool.wake()

    def scheduled(self) -> None:
        """A waiting job was committed: the timer may need to wake sooner."""
        self._timer_wake.set()

    def on_decision(self, job: Job, decision: Decision) -> None:
        """A retry is a waiting job too; its time may come before the timer's next look."""
        if decision.status in ("queued", "deferred"):
            self._timer_wake.set()

    async def _run_timer(self) -> None:
        last_sweep = 0.0
        while True:
            self._timer_wake.clear()
            now = self.clock()
            try:
                if self.database.full:
                    await self.database.probe()  # clears ``full`` once space is back
                ready: set[str] = await self.database.write(partial(self._due, now=now))
                due = await stored_jobs.next_due(self.database)
            except StorageFull:  # logged by the writer; looked at again next sweep
                ready, due = set(), None
            except Exception:
                log.exception("queue timer failed")
                ready, due = set(), None
            self.coordinator.jobs_ready(ready)  # committed: pools anywhere may claim them
            if now - last_sweep >= SWEEP_SECONDS:  # pick up work other processes made ready
                self.ready(self.pools)
                last_sweep = now
            next_at = due if due is not None else now + SWEEP_SECONDS
            timeout = max(0.0, min(SWEEP_SECONDS, next_at - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_wake.wait(), timeout)

    @staticmethod
    def _due(tx: Tx, now: float) -> set[str]:
        return set(stored_jobs.promote_due(tx, now)) | stored_jobs.expire_leases(tx, now)

    async def stop(self, timeout: float) -> Stopped:
        if self._timer:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        stopped = await asyncio.gather(*(p.stop(timeout) for p in self.pools.values()))
        return Stopped(sum(s.drained for s in stopped), sum(s.released for s in stopped))

"""Worker pools, one per channel, and the timer that makes waiting jobs ready.

Each pool claims jobs in batches up to its free capacity and sends each in its own task,
so a slow channel (SMTP) never holds up another (in-app). An idle pool sleeps on an event
that publishing sets right after its commit: no polling delay. A sweep every
``SWEEP_SECONDS`` also wakes them, for jobs another process (a CLI replay) made ready.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import NamedTuple

from ..coordination import Coordinator
from ..storage import jobs as stored_jobs
from ..storage.database import Database, StorageFull, Tx, isolated
from . import queue
from .deliverer import RECORD_RETRY_SECONDS, Deliverer, Outcome
from .queue import Decision, Job

log = logging.getLogger("alertflow.workers")
SWEEP_SECONDS = 1.0
# A claimed job waits in the pool's prefetch at most this share of its lease before it is
# given back unsent: the deliverer gives a send half the lease to be recorded (RECORD_PATIENCE)
# from when it starts, and a quarter spent waiting leaves the rest of the lease to spare.
PREFETCH_LEASE_SHARE = 0.25


class Stopped(NamedTuple):
    """What a stop did with the sends in flight when it began."""

    drained: int  # finished within the shutdown timeout
    released: int  # cut off, or claimed too late to start, and returned to the queue, their attempt uncounted


class ChannelPool:
    """Sends one channel's jobs with at most ``concurrency`` in flight.

    Sends record nothing themselves: each hands its outcome to the pool, whose runner
    records all the outcomes that arrived since its last cycle and claims the next jobs in
    one write, so a busy pool commits once per cycle, not once per message. A crash between
    a send and that write re-sends the message once its lease expires: at least once, as
    when each send wrote its own outcome.

    One cycle is with the writer at a time, on purpose. Sends go on meanwhile (each is a task
    of its own), and a cycle claims up to a pool's worth beyond the sends in flight: a send
    that finishes starts the next prefetched job at once instead of leaving its connection
    idle until a cycle has recorded it and claimed again. To an SMTP sink that wait was as long
    as the send itself (bench --smtp's backlog phase: 1,858-1,943 arrivals/s against a raw
    ceiling of 4,197-4,529). A prefetched job that waited past ``PREFETCH_LEASE_SHARE`` of its
    lease (a provider slower than its lease) goes back to the queue unsent, and one as urgent
    as an OTP waits behind at most a pool's worth of them. Two cycles in flight, as the fan-out
    keeps two steps, were measured slower (issue 19, ``bench --drain 5000``, medians of three
    alternated runs): 933 against 1,320 deliveries/s, and 729 against 2,042 when the second
    waited for half the pool's outcomes; commits per delivery rose from ~0.18 to ~0.22.
    """

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
        # Set by a commit of ready jobs, a finished send, or stop: the runner has work.
        self._kick = asyncio.Event()
        self._woken = True  # jobs may be ready that no claim has looked for yet
        self._more = False  # the last claim filled its limit: more may be waiting
        self._stopping = False
        self._inflight: dict[asyncio.Task[None], Job] = {}
        # Claimed, not yet started: (when claimed, job), in claim order.
        self._prefetched: collections.deque[tuple[float, Job]] = collections.deque()
        self._stale: list[Job] = []  # waited too long in the prefetch: the next cycle gives them back
        # Outcomes to record, each with when to try (a full disk refused it: a second later).
        self._outcomes: list[tuple[float, Outcome]] = []
        self._runner: asyncio.Task[None] | None = None
        # The tenant served last: the next claim starts its turn after it (jobs.claim).
        self._last_tenant = ""

    def wake(self) -> None:
        self._woken = True
        self._kick.set()

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name=f"pool-{self.channel}")

    @property
    def running(self) -> bool:
        return self._runner is not None and not self._runner.done()

    async def _run(self) -> None:
        while True:
            self._kick.clear()
            now = self.clock()
            ready = [o for at, o in self._outcomes if at <= now or self._stopping]
            self._outcomes = [(at, o) for at, o in self._outcomes if at > now and not self._stopping]
            limit = self._claim_limit()
            if ready or limit or self._stale:
                await self._cycle(ready, limit, now)
            elif self._stopping and not self._inflight:
                return  # everything that finished is recorded; stop releases the rest
            else:
                await self._sleep(now)

    def _claim_limit(self) -> int:
        """How many jobs this cycle claims: its free slots and prefetch, if jobs may be waiting.
        A send's slot stays taken until its outcome is recorded, which this very cycle does."""
        if self._stopping or self.database.full or not (self._woken or self._more):
            return 0
        held = len(self._inflight) + len(self._outcomes) + len(self._prefetched)
        return max(0, min(2 * self.concurrency - held, queue.CLAIM_BATCH))

    async def _sleep(self, now: float) -> None:
        """Until kicked, or until the first outcome a full disk refused is due again."""
        retry = min((at for at, _ in self._outcomes), default=None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), None if retry is None else max(0.0, retry - now))

    async def _cycle(self, outcomes: list[Outcome], limit: int, now: float) -> None:
        """One write: record ``outcomes`` and claim up to ``limit`` jobs, then start them."""
        if limit:
            self._woken = False  # cleared before the claim: a publish committed during it wakes us
        after = self._last_tenant
        stale, self._stale = self._stale, []
        try:
            errors, jobs = await self.database.write(
                partial(self._apply, outcomes=outcomes, limit=limit, now=now, after=after, stale=stale)
            )
        except StorageFull as exc:  # logged by the writer; outcomes wait for space, claims for the timer
            errors, jobs = [exc] * len(outcomes), []
            self._give_back_prefetched(stale)
        except Exception as exc:
            log.exception("pool cycle failed", extra={"channel": self.channel})
            errors, jobs = [exc] * len(outcomes), []
            self._give_back_prefetched(stale)
            await asyncio.sleep(SWEEP_SECONDS)
        if limit:
            self._more = len(jobs) == limit
        if jobs:
            self._last_tenant = jobs[-1].tenant_id
        self._prefetched.extend((now, job) for job in jobs)
        self._start_prefetched()
        await self._settle(outcomes, errors)

    def _give_back_prefetched(self, stale: Sequence[Job] = ()) -> None:
        """The prefetched jobs go back unsent, with ``stale`` (a failed cycle's, not given
        back), by the next cycle that succeeds or by the stop. After a failed cycle, sends
        started now could not be recorded either: each would be sent again once its lease ended."""
        self._stale = [*stale, *(job for _, job in self._prefetched), *self._stale]
        self._prefetched.clear()

    def _start_prefetched(self) -> None:
        """Start prefetched jobs while slots are free; a stop leaves them to be given back."""
        if self._stopping:
            return
        now = self.clock()
        while self._prefetched and len(self._inflight) < self.concurrency:
            claimed_at, job = self._prefetched.popleft()
            if now - claimed_at > self.lease_seconds * PREFETCH_LEASE_SHARE:
                self._stale.append(job)
                continue
            task = asyncio.create_task(self._send(job))
            self._inflight[task] = job

    def _apply(
        self, tx: Tx, outcomes: list[Outcome], limit: int, now: float, after: str, stale: list[Job]
    ) -> tuple[list[BaseException | None], list[Job]]:
        if stale:
            stored_jobs.release(tx, stale, now)
        errors = self.deliverer.apply_all(tx, outcomes)
        if not limit or any(isinstance(e, StorageFull) for e in errors):
            return errors, []  # a send now could not be recorded: claim nothing
        jobs, error = isolated(
            tx, lambda tx: stored_jobs.claim(tx, self.channel, limit, now, self.lease_seconds, after, self.node_id)
        )
        if error is not None:
            log.error("claim failed", exc_info=error, extra={"channel": self.channel})
        return errors, jobs or []

    async def _settle(self, outcomes: list[Outcome], errors: list[BaseException | None]) -> None:
        """Finish what was recorded; keep what a full disk refused while its lease allows."""
        now, full = self.clock(), False
        for outcome, error in zip(outcomes, errors, strict=True):
            if error is None:
                self.deliverer.finish(outcome)
            elif (
                isinstance(error, StorageFull) and not self._stopping and now + RECORD_RETRY_SECONDS < outcome.record_by
            ):
                self._outcomes.append((now + RECORD_RETRY_SECONDS, outcome))
                full = True
            else:  # not recorded: the lease will expire and the job return
                log.error("outcome not recorded", exc_info=error, extra={"delivery_id": outcome.job.delivery_id})
                full = full or isinstance(error, StorageFull)
        if full and not self.database.full:
            # Refused inside a write that otherwise committed: the probe marks the disk full,
            # so no pool claims what it could not record, and the timer looks for space.
            with contextlib.suppress(StorageFull):
                await self.database.probe()

    async def _send(self, job: Job) -> None:
        try:
            outcome = await self.deliverer.attempt(job)
            self._outcomes.append((0.0, outcome))
        except asyncio.CancelledError:
            raise
        except Exception:  # not decided: the lease will expire and the job return
            log.exception("delivery crashed", extra={"delivery_id": job.delivery_id})
        finally:
            self._inflight.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self._start_prefetched()
            self._kick.set()

    async def stop(self, timeout: float) -> Stopped:
        """Stop claiming; let in-flight sends finish up to ``timeout`` and record them; release the
        rest, and the jobs of a claim that was being written when the stop began: started then,
        their sends would hold the stop past ``timeout``."""
        self._stopping = True
        self._kick.set()
        in_flight = len(self._inflight)
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=timeout)
        unfinished = dict(self._inflight)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
        if self._runner:
            await self._runner  # records what finished (one more try for what the disk refused)
        # Cut off, claimed but never started, or stale in the prefetch: back to the queue.
        self._give_back_prefetched()
        jobs, self._stale = [*unfinished.values(), *self._stale], []
        if jobs:
            now = self.clock()
            try:
                await self.database.write(lambda tx: stored_jobs.release(tx, jobs, now))
            except StorageFull:  # still leased: the next start takes its own leases back
                log.warning("unfinished sends not released: storage is full", extra={"channel": self.channel})
                return Stopped(drained=in_flight - len(unfinished), released=0)
            log.warning("released unfinished sends", extra={"channel": self.channel, "count": len(jobs)})
        return Stopped(drained=in_flight - len(unfinished), released=len(jobs))


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

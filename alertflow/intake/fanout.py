"""The fan-out: turns stored batches into notification, delivery and job rows in the background.

A step takes one chunk of a batch's recipients (batches.CHUNK), plans it exactly as the
publish of those recipients (publish.plan) and writes its rows in one writer call, so the
writer is never held for more than a few ms and a publish never waits behind a 100k batch.
Each step's rows commit together with the batch's new cursor, and only if the cursor is
still where the step started and the batch is still fanning out: a crash, a restart or a
cancel in between never fans a chunk out twice, nor at all after the cancel.

Batches take turns a step at a time, like tenants in the claim, so a small batch is not
stuck behind a 1M-subscriber topic. While steps' rows are being written the next step is
read and planned: SQLite does its work outside the GIL, so the two overlap. Steps are
written in the order they were planned (the writer is first in, first out), and each
checks the cursor the one before it leaves, so a step that fails stops the ones after it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..delivery import status_events
from ..errors import ApiError
from ..storage import bulk_batches as stored
from ..storage import topic_members
from ..storage.database import Tx
from . import batches
from .audience import Intake, announce, audience_for
from .publish import Audience, Plan, PublishRequest, plan, store

log = logging.getLogger("alertflow.fanout")
# After an unexpected error (the disk is full, ...) a batch is retried this much later.
RETRY_SECONDS = 5.0
# Steps handed to the writer before the next waits for the first (see FanOut._run).
WRITES_IN_FLIGHT = 2


@dataclass
class _Batch:
    """A batch being fanned out; ``cursor`` is where the last step handed to the writer ended."""

    id: str
    tenant_id: str
    message: dict[str, Any]
    topic: str | None
    cursor: str | None


@dataclass(frozen=True)
class _Read:
    """A step's recipients, read and checked, ready to plan; ``req`` None: none were left."""

    batch: _Batch
    start: str | None  # the cursor the batch must still be at for the step to apply
    end: str | None
    req: PublishRequest | None = None
    audience: Audience | None = None


@dataclass(frozen=True)
class _Step:
    batch: _Batch
    start: str | None
    end: str | None
    plan: Plan | None  # None: the step finishes the batch


class FanOut:
    """Fans out every batch that is ``fanning_out``; :meth:`submitted` wakes it for a new one.

    Every node's fan-out hears of every batch (``batches_waiting``) and may step it: the
    cursor check makes one step of each pair win, and a node that dies mid-batch leaves the
    rest to the others."""

    def __init__(self, svc: Intake) -> None:
        self.svc = svc
        self._batches: dict[str, _Batch] = {}
        self._turns: deque[str] = deque()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        svc.coordinator.on_batches_waiting(self.submitted)
        svc.coordinator.on_resync(self.submitted)

    def submitted(self) -> None:
        """A batch was committed."""
        self._wake.set()

    def start(self) -> None:
        self._wake.set()  # batches a crash or a shutdown left half fanned out continue at once
        self._task = asyncio.create_task(self._run(), name="fanout")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task:
            await self._task

    async def _run(self) -> None:
        """A pipeline: the next step is read while this one is planned and the last ones are
        written, so reads, planning and the writer's SQLite work overlap. Two writes stay in
        flight: the writer finds the next step waiting when it finishes one (no gap while
        the loop wakes up), and commits steps that wait together in one group."""
        await self._finish_cancellations()
        reading: asyncio.Task[_Read | None] | None = None
        writing: deque[asyncio.Task[None]] = deque()
        while not self._stopping:
            if self._wake.is_set():
                self._wake.clear()
                await self._load()
            if reading is None:
                batch = self._next_turn()
                if batch is None:
                    if writing:  # its outcome may end a batch; wait for it before idling
                        await writing.popleft()
                    else:
                        await self._wake.wait()
                    continue
                reading = asyncio.create_task(self._read(batch))
            read = await reading
            following = self._next_turn()
            reading = asyncio.create_task(self._read(following)) if following else None
            step = self._plan(read) if read else None
            if len(writing) == WRITES_IN_FLIGHT:
                await writing.popleft()
            if step:
                writing.append(asyncio.create_task(self._write(step)))
        for task in (reading, *writing):
            if task:
                await task

    def _next_turn(self) -> _Batch | None:
        """The batch whose turn it is: batches take turns a step at a time."""
        while self._turns:
            batch = self._batches.get(self._turns.popleft())
            if batch is not None:
                self._turns.append(batch.id)
                return batch
        return None

    async def _finish_cancellations(self) -> None:
        """Cancels a crash interrupted are finished before anything else is fanned out."""
        db = self.svc.database
        for batch in await stored.unfinished(db, stored.CANCELLING):
            await batches.cancel_unsent(db, batch.tenant_id, batch.id, self.svc.clock.now())

    async def _load(self) -> None:
        """Pick up new batches. One this process already knows keeps its in-memory cursor,
        which may be ahead of the committed one by the steps under way."""
        for r in await stored.unfinished(self.svc.database, stored.FANNING_OUT):
            if r.id not in self._batches:
                self._batches[r.id] = _Batch(r.id, r.tenant_id, json.loads(r.request), r.topic, r.cursor)
                if r.id not in self._turns:
                    self._turns.append(r.id)

    async def _read(self, batch: _Batch) -> _Read | None:
        """The batch's next recipients, checked as a publish; None when the batch cannot go on."""
        start = batch.cursor
        try:
            to, end, users = await self._next_recipients(batch)
            if not to:
                self._forget(batch)
                return _Read(batch, start, start)
            batch.cursor = end
            req = batches.chunk_request(batch.message, to)
            assert req.to is not None
            return _Read(batch, start, end, req, await audience_for(self.svc, batch.tenant_id, req, req.to, users))
        except (ApiError, ValidationError) as exc:
            # The batch itself cannot be sent any more (its template or category was deleted).
            await self._fail(batch, str(exc))
        except Exception:
            self._retry_later(batch)
        return None

    def _plan(self, read: _Read) -> _Step:
        planned = None
        if read.req is not None and read.audience is not None:
            assert read.req.to is not None
            planned = plan(read.req, read.req.to, read.audience, self.svc.clock.now(), read.batch.id)
        return _Step(read.batch, read.start, read.end, planned)

    async def _next_recipients(self, batch: _Batch) -> tuple[list[Any], str | None, dict[str, Any]]:
        """The recipients after the batch's cursor, the cursor after them, and their users:
        one query, so one wait for the event loop to take its result."""
        db = self.svc.database
        if batch.topic is not None:
            user_ids, users = await topic_members.page(
                db, batch.tenant_id, batch.topic, batch.cursor or "", batches.CHUNK
            )
            return [{"user_id": u} for u in user_ids], (user_ids[-1] if user_ids else None), users
        chunk = await stored.chunk_after(
            db, batch.tenant_id, batch.id, int(batch.cursor) if batch.cursor is not None else -1
        )
        if chunk is None:
            return [], None, {}
        return chunk.recipients, str(chunk.seq), chunk.users

    async def _write(self, step: _Step) -> None:
        now = self.svc.clock.now()
        try:
            applied = await self.svc.database.write(lambda tx: _apply(tx, step, now))
        except Exception:
            self._retry_later(step.batch)
            return
        if step.plan is None:
            return
        if applied:
            announce(self.svc, step.plan)
        else:  # cancelled meanwhile: its rows were not written, and no more will be
            self._forget(step.batch)

    async def _fail(self, batch: _Batch, error: str) -> None:
        self._forget(batch)
        log.warning("batch failed", extra={"tenant_id": batch.tenant_id, "batch_id": batch.id, "error": error})
        now = self.svc.clock.now()
        await self.svc.database.write(lambda tx: stored.fail(tx, batch.id, error, now))

    def _forget(self, batch: _Batch) -> None:
        """Stop fanning ``batch`` out, unless it was loaded again meanwhile: a step planned
        before a failure may finish after the batch came back at its committed cursor."""
        if self._batches.get(batch.id) is batch:
            del self._batches[batch.id]

    def _retry_later(self, batch: _Batch) -> None:
        """Forget the batch for now; it is loaded again, at its committed cursor, in a while."""
        log.exception("fan-out step failed; retrying", extra={"tenant_id": batch.tenant_id, "batch_id": batch.id})
        self._forget(batch)
        asyncio.get_running_loop().call_later(RETRY_SECONDS, self._wake.set)


def _apply(tx: Tx, step: _Step, now: float) -> bool:
    """Write one step (writer function); False when the batch is no longer where it started."""
    if step.plan is None:
        finished = stored.finish(tx, step.batch.id, step.start, now)
        if finished:
            status_events.batch_fanned_out(tx, step.batch.tenant_id, step.batch.id, now)
        return finished
    advanced = stored.advance(tx, step.batch.id, step.start, step.end, len(step.plan.notifications), now)
    if advanced:
        store(tx, step.batch.tenant_id, None, step.plan, now)
    return advanced

"""Cron schedules: each firing only enqueues a bulk batch, under the key "schedule id@fire time".

APScheduler 3 (an AsyncIOScheduler with one CronTrigger job per schedule, in the schedule's
timezone) wakes the server at each firing; what fires is decided from the database. Every
node of a cluster arms every schedule (``schedule_changed`` tells them all) and all wake
together: the dedupe key, unique in the batches table, lets one firing of a period through. Each
schedule row holds its next firing time, and a firing commits its batch together with the
next time, in one transaction, under a dedupe key the batches table holds unique. So a
double firing, or a restart right after one, enqueues nothing twice.

Missed firings: APScheduler knows only the running process. After downtime a schedule's
next firing time lies in the past; at start it fires once for it, however many periods
went by (coalesced), and then continues from now. A paused schedule skips its periods.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from pydantic import ValidationError

from ..errors import ApiError, invalid
from ..storage import schedules
from ..storage.database import Tx
from ..storage.schedules import Schedule
from ..timefmt import iso
from . import batches
from .audience import Intake
from .batches import BulkRequest, NewBatch

log = logging.getLogger("alertflow.scheduler")

# Standard crontab numbers days from Sunday (0 or 7); APScheduler 3 from Monday (0). Days are
# handed to it by name, so "0 9 * * 1" means Monday as everywhere else.
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# How far ahead a firing is looked for. The Gregorian calendar repeats every 400 years, so a
# cron that has not fired in that span never will ("0 0 31 2 *"). APScheduler alone searches
# to the year 9999: ~0.1-1 s of CPU for such a cron; bounded, at most ~20 ms.
_HORIZON = timedelta(days=400 * 365 + 97)


def zone(name: str) -> ZoneInfo:
    """An IANA timezone; raises ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}; give an IANA name such as Europe/Berlin") from None


def trigger(cron: str, timezone: str) -> CronTrigger:
    """A five-field crontab expression read in ``timezone``; raises ValueError saying why."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"give five fields (minute hour day month weekday), got {len(fields)}")
    fields[4] = _weekdays(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=zone(timezone))


def _weekdays(field: str) -> str:
    """A crontab weekday field as the day names it means (lists, ranges, steps, 0-7, names)."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            low, high = (_day(s) for s in span.split("-", 1))
        else:
            low = _day(span)
            high = 6 if step else low  # "1/2": from Monday, every other day
        if (step and not (step.isdigit() and int(step) > 0)) or low > high:
            raise ValueError(f"cannot read weekday {part!r}")
        days.update(d % 7 for d in range(low, high + 1, int(step or 1)))
    return ",".join(_DAYS[d] for d in sorted(days))


def _day(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text.lower() in _DAYS:
        return _DAYS.index(text.lower())
    raise ValueError(f"cannot read weekday {text!r}")


def next_fire(cron_trigger: CronTrigger, after: float) -> float | None:
    """The first firing strictly after ``after``; None for a cron that never fires."""
    start = datetime.fromtimestamp(after, UTC) + timedelta(microseconds=1)
    bounded = copy.copy(cron_trigger)
    bounded.end_date = start + _HORIZON
    found = bounded.get_next_fire_time(None, start)
    return found.timestamp() if found else None


def upcoming(cron_trigger: CronTrigger, after: float, count: int) -> list[float]:
    """The first ``count`` firings after ``after``; none for a cron that never fires."""
    fires: list[float] = []
    while len(fires) < count and (found := next_fire(cron_trigger, fires[-1] if fires else after)) is not None:
        fires.append(found)
    return fires


async def firings(cron: str, timezone: str, after: float, count: int) -> list[float]:
    """A schedule's next ``count`` firings, found in a worker thread (see _HORIZON); raises
    ApiError naming ``cron`` when it never fires."""
    found = await asyncio.to_thread(upcoming, trigger(cron, timezone), after, count)
    if not found:
        raise invalid("cron", "never fires: no date matches its day, month and weekday fields")
    return found


def dedupe_key(schedule_id: str, fire_time: float) -> str:
    return f"schedule:{schedule_id}@{datetime.fromtimestamp(fire_time, UTC).isoformat()}"


class Scheduler:
    """Registers every active schedule with APScheduler and enqueues their firings."""

    def __init__(self, svc: Intake) -> None:
        self.svc = svc
        self._aps: AsyncIOScheduler | None = None
        self._rearming: asyncio.Task[None] | None = None
        svc.coordinator.on_schedule_changed(self._changed)
        svc.coordinator.on_resync(self._resync)

    async def start(self) -> None:
        self._aps = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        for schedule in await schedules.active(self.svc.database):
            self.register(schedule.id, schedule.cron, schedule.timezone)
        self._aps.start()
        await self.fire_due()  # what was missed while the server was down: once each

    def stop(self) -> None:
        if self._rearming is not None:
            self._rearming.cancel()
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None

    def _changed(self, schedule_id: str, cron: str | None, timezone: str | None) -> None:
        """A schedule was created or resumed (``cron`` set), or paused or deleted, on any node."""
        if self._aps is None:  # not started, or stopped: start() reads them all
            return
        if cron is not None and timezone is not None:
            self.register(schedule_id, cron, timezone)
        else:
            self.unregister(schedule_id)

    def _resync(self) -> None:
        """Changes may have been missed: arm what the database holds, drop what it no longer
        does, and fire what came due meanwhile. A firing that failed while the database was
        away would otherwise wait for the schedule's next wake-up, a week later for a weekly
        one; every node does this at once after an outage, and the dedupe key lets one through."""
        if self._aps is not None and (self._rearming is None or self._rearming.done()):
            self._rearming = asyncio.create_task(self._rearm(), name="scheduler-rearm")

    async def _rearm(self) -> None:
        try:
            active = {s.id: s for s in await schedules.active(self.svc.database)}
        except Exception:  # the next resync tries again; the armed timers still fire meanwhile
            log.exception("re-arming schedules failed")
            return
        if self._aps is None:
            return
        for job in self._aps.get_jobs():
            if job.id not in active:
                job.remove()
        for schedule in active.values():
            self.register(schedule.id, schedule.cron, schedule.timezone)
        try:
            await self.fire_due()
        except Exception:
            log.exception("firing what came due failed")

    def register(self, schedule_id: str, cron: str, timezone: str) -> None:
        """(Re-)arm a schedule's APScheduler job; the database says whether a wake-up fires."""
        assert self._aps is not None
        self._aps.add_job(
            self._woken,
            trigger(cron, timezone),
            args=[schedule_id],
            id=schedule_id,
            replace_existing=True,
            coalesce=True,  # several wake-ups due at once (a stalled loop) run once
            max_instances=1,
            misfire_grace_time=None,  # however late the loop gets to it, it still fires
        )

    def unregister(self, schedule_id: str) -> None:
        if self._aps is not None and self._aps.get_job(schedule_id) is not None:
            self._aps.remove_job(schedule_id)

    async def _woken(self, schedule_id: str) -> None:
        await self.fire_due(schedule_id)

    async def fire_due(self, schedule_id: str | None = None) -> list[str]:
        """Fire every active schedule (or just this one) whose next firing time has come, at
        that time; returns the batches enqueued."""
        due = await schedules.due(self.svc.database, self.svc.clock.now(), schedule_id)
        enqueued = [await self.fire(due_id, fire_time) for due_id, fire_time in due]
        return [b for b in enqueued if b]

    async def fire(self, schedule_id: str, fire_time: float) -> str | None:
        """Enqueue the schedule's batch for the firing at ``fire_time``; returns its id, or None
        when that firing was enqueued before (or the schedule is gone or cannot send)."""
        db, now = self.svc.database, self.svc.clock.now()
        schedule = await schedules.get(db, schedule_id)
        if schedule is None:
            return None
        following = next_fire(trigger(schedule.cron, schedule.timezone), max(fire_time, now))
        batch: NewBatch | None = None
        error: str | None = None
        try:
            req = BulkRequest.model_validate(json.loads(schedule.request))
            batch = await batches.prepare(self.svc, schedule.tenant_id, req, dedupe_key(schedule_id, fire_time))
        except (ApiError, ValidationError) as exc:  # its template or topic went away since
            error = str(exc)
            log.warning("schedule cannot send", extra={"schedule_id": schedule_id, "error": error})
        batch_id = await db.write(lambda tx: _record(tx, schedule, batch, error, fire_time, following, now))
        if batch_id:
            self.svc.coordinator.batches_waiting()
        log.info("schedule fired", extra={"schedule_id": schedule_id, "batch_id": batch_id, "fire_time": fire_time})
        return batch_id


def _record(
    tx: Tx,
    fired: Schedule,
    batch: NewBatch | None,
    error: str | None,
    fire_time: float,
    following: float | None,
    now: float,
) -> str | None:
    """A firing's batch and the schedule's next time, in one transaction (writer function).

    ``fired`` is the schedule as the firing read it; ``following`` was found with its cron."""
    batch_id, created = None, False
    if batch is not None:
        batch_id, _, created = batches.store(tx, batch, now)
    current = schedules.get_in(tx, fired.tenant_id, fired.id)
    if current is not None and (current.cron, current.timezone) != (fired.cron, fired.timezone):
        following = current.next_fire_at  # edited while this firing ran: the new timing stands
    schedules.record_firing(tx, fired.id, fire_time, batch_id, error, following, now)
    return batch_id if created else None


def shape(schedule: Schedule, with_recipients: bool = True) -> dict[str, Any]:
    """A schedule as the API shows it; a listing counts inline recipients instead of listing them."""
    request = json.loads(schedule.request)
    to = request.pop("to", None) if not with_recipients else request.get("to")
    return {
        "id": schedule.id,
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        **request,
        "recipients": len(to) if to is not None else None,
        "paused": schedule.paused,
        "next_fire_at": iso(schedule.next_fire_at),
        "last_fire_at": iso(schedule.last_fire_at),
        "last_batch_id": schedule.last_batch_id,
        "last_error": schedule.last_error,
        "created_at": iso(schedule.created_at),
        "updated_at": iso(schedule.updated_at),
    }

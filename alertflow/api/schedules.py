"""Cron schedules: admins write them, members read them; firing is scheduler.py's."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from ..errors import ApiError, invalid_many
from ..ids import new_id
from ..intake import batches, scheduler
from ..intake.batches import BulkRequest
from ..storage import schedules
from ..storage.database import Tx
from ..storage.schedules import Schedule
from ..tenants import Role
from ..timefmt import iso
from .audit import audited, found
from .context import Services, services
from .middleware import json_response, principal, read_model, read_only, same_as_path
from .routing import ITEMS, STRING, Param, Routes, obj

api = Routes()
# How many coming firings a schedule shows: enough to see its rhythm, and a daylight-saving
# change in its timezone moving (or not moving) the times.
NEXT_FIRES = 5
FIRES = {"type": "array", "items": {"type": "string", "format": "date-time"}, "maxItems": NEXT_FIRES}
SCHEDULE = obj(
    ("id", "name", "cron", "timezone", "paused"),
    id=STRING,
    name=STRING,
    cron=STRING,
    timezone=STRING,
    paused={"type": "boolean"},
    next_fires=FIRES,
)


class ScheduleIn(BulkRequest):
    """A bulk body (``to`` or ``topic``) sent at every firing of ``cron`` in ``timezone``."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    cron: str = Field(json_schema_extra={"pattern": r"^\S+( +\S+){4}$"}, description="minute hour day month weekday")
    timezone: str = "UTC"
    # A schedule sends at its cron times: refused by _no_time, and left out of the document.
    send_at: SkipJsonSchema[datetime | None] = None
    send_at_local: SkipJsonSchema[datetime | None] = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        scheduler.zone(v)
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        scheduler.trigger(v, "UTC")  # the syntax; the timezone is checked on its own
        return v

    @field_validator("send_at", "send_at_local")
    @classmethod
    def _no_time(cls, v: Any) -> Any:
        if v is not None:
            raise ValueError("a schedule sends at its cron times; leave this out")
        return v


class ScheduleUpdate(ScheduleIn):
    """A schedule as GET shows it: ``id`` may be given and must be the path's; what the server
    keeps (times, firings, pause) is ignored."""

    id: str | None = None
    recipients: Any = read_only()
    paused: Any = read_only()
    next_fire_at: Any = read_only()
    next_fires: Any = read_only()
    last_fire_at: Any = read_only()
    last_batch_id: Any = read_only()
    last_error: Any = read_only()
    created_at: Any = read_only()
    updated_at: Any = read_only()


@api.post("/v1/schedules", role=Role.admin, body=ScheduleIn, status=201, response=SCHEDULE)
async def create_schedule(request: web.Request) -> web.Response:
    """Create a cron schedule that sends a bulk message at every firing."""
    svc, tenant_id = services(request), principal(request).tenant_id
    body = await read_model(request, ScheduleIn, svc.config.server.max_bulk_body_mb)
    await batches.prepare(svc, tenant_id, body)  # refused now, not at the first firing
    now = svc.clock.now()
    fires = await scheduler.firings(body.cron, body.timezone, now, NEXT_FIRES)
    schedule_id = new_id("sch")
    created = await svc.database.write(
        audited(
            request,
            "schedule.create",
            ("schedule", schedule_id),
            lambda tx: schedules.insert(
                tx, schedule_id, tenant_id, body.name, body.cron, body.timezone, _stored(body), fires[0], now
            ),
            after=_timing(body),
        )
    )
    svc.coordinator.schedule_changed(schedule_id, body.cron, body.timezone)
    return json_response(_shown(created, fires), status=201)


@api.put("/v1/schedules/{id}", role=Role.admin, body=ScheduleUpdate, response=SCHEDULE)
async def update_schedule(request: web.Request) -> web.Response:
    """Replace a schedule's name, timing and message; it fires next at its new cron's first time
    from now. A paused schedule stays paused; its firings so far are kept."""
    svc, tenant_id, schedule_id = services(request), principal(request).tenant_id, request.match_info["id"]
    body = await read_model(request, ScheduleUpdate, svc.config.server.max_bulk_body_mb)
    same_as_path(request, "id", body.id)
    await batches.prepare(svc, tenant_id, body)
    now = svc.clock.now()
    fires = await scheduler.firings(body.cron, body.timezone, now, NEXT_FIRES)
    updated = await svc.database.write(
        audited(
            request,
            "schedule.update",
            ("schedule", schedule_id),
            lambda tx: schedules.update(
                tx, tenant_id, schedule_id, body.name, body.cron, body.timezone, _stored(body), fires[0], now
            ),
            after=_timing(body),
            when=found,
        )
    )
    if updated is None:
        raise ApiError("not-found", "no such schedule")
    if updated.paused:
        svc.coordinator.schedule_changed(schedule_id, None, None)
    else:
        svc.coordinator.schedule_changed(schedule_id, updated.cron, updated.timezone)
    return json_response(_shown(updated, fires))


@api.get(
    "/v1/schedules/preview",
    response=obj(cron=STRING, timezone=STRING, next_fires=FIRES),
    query=(
        Param("cron", {"type": "string"}, "five fields: minute hour day month weekday", required=True),
        Param("timezone", {"type": "string", "default": "UTC"}, "an IANA timezone"),
    ),
)
async def preview_schedule(request: web.Request) -> web.Response:
    """The next five firings a schedule with this cron and timezone would make, before saving it."""
    cron, timezone = request.query.get("cron", ""), request.query.get("timezone") or "UTC"
    errors = []
    for field, check in (
        ("cron", lambda: scheduler.trigger(cron, "UTC")),
        ("timezone", lambda: scheduler.zone(timezone)),
    ):
        try:
            check()
        except ValueError as exc:
            errors.append({"field": field, "message": str(exc)})
    if errors:
        raise invalid_many(errors)
    fires = await scheduler.firings(cron, timezone, services(request).clock.now(), NEXT_FIRES)
    return json_response({"cron": cron, "timezone": timezone, "next_fires": [iso(f) for f in fires]})


def _stored(body: ScheduleIn) -> str:
    """The bulk body each firing enqueues, as the schedule keeps it."""
    kept = body.model_dump(mode="json", include=set(BulkRequest.model_fields), exclude_none=True)
    return json.dumps(kept)


def _timing(body: ScheduleIn) -> dict[str, str]:
    return {"name": body.name, "cron": body.cron, "timezone": body.timezone}


def _shown(schedule: Schedule, fires: list[float]) -> dict[str, Any]:
    """A schedule with its coming firings; a paused one has none until it is resumed."""
    return {**scheduler.shape(schedule), "next_fires": [] if schedule.paused else [iso(f) for f in fires]}


async def _with_fires(svc: Services, schedule: Schedule) -> dict[str, Any]:
    """:func:`_shown`, its firings counted from now."""
    if schedule.paused:
        return _shown(schedule, [])
    return _shown(schedule, await scheduler.firings(schedule.cron, schedule.timezone, svc.clock.now(), NEXT_FIRES))


@api.get("/v1/schedules", response=ITEMS)
async def list_schedules(request: web.Request) -> web.Response:
    """List the tenant's schedules."""
    found = await schedules.of_tenant(services(request).database, principal(request).tenant_id)
    return json_response({"items": [scheduler.shape(s, with_recipients=False) for s in found]})


@api.get("/v1/schedules/{id}", response=SCHEDULE)
async def get_schedule(request: web.Request) -> web.Response:
    """Read a schedule with its last firing and its next five (``next_fires``, none while paused)."""
    svc = services(request)
    found = await schedules.get(svc.database, request.match_info["id"], principal(request).tenant_id)
    if found is None:
        raise ApiError("not-found", "no such schedule")
    return json_response(await _with_fires(svc, found))


@api.delete("/v1/schedules/{id}", role=Role.admin)
async def delete_schedule(request: web.Request) -> web.Response:
    """Delete a schedule; batches it already enqueued are sent (cancel those through /v1/batches)."""
    svc, schedule_id = services(request), request.match_info["id"]
    tenant_id = principal(request).tenant_id
    deleted = await svc.database.write(
        audited(
            request,
            "schedule.delete",
            ("schedule", schedule_id),
            lambda tx: schedules.delete(tx, tenant_id, schedule_id),
        )
    )
    if not deleted:
        raise ApiError("not-found", "no such schedule")
    svc.coordinator.schedule_changed(schedule_id, None, None)
    return web.Response(status=204)


@api.post("/v1/schedules/{id}/pause", role=Role.admin, response=SCHEDULE)
async def pause(request: web.Request) -> web.Response:
    """Pause a schedule: its firings are skipped until it is resumed, and none are made up afterwards."""
    svc = services(request)
    paused = await _set_paused(request, request.match_info["id"], True)
    svc.coordinator.schedule_changed(paused.id, None, None)
    return json_response(_shown(paused, []))


@api.post("/v1/schedules/{id}/resume", role=Role.admin, response=SCHEDULE)
async def resume(request: web.Request) -> web.Response:
    """Resume a paused schedule from its next firing after now."""
    svc = services(request)
    resumed = await _set_paused(request, request.match_info["id"], False)
    svc.coordinator.schedule_changed(resumed.id, resumed.cron, resumed.timezone)
    return json_response(await _with_fires(svc, resumed))


async def _set_paused(request: web.Request, schedule_id: str, paused: bool) -> Schedule:
    svc, tenant_id = services(request), principal(request).tenant_id
    now = svc.clock.now()

    def update(tx: Tx) -> Schedule | None:
        found = schedules.get_in(tx, tenant_id, schedule_id)
        if found is None:
            return None
        # Resuming starts from now: the periods spent paused are skipped, not caught up.
        following = None if paused else scheduler.next_fire(scheduler.trigger(found.cron, found.timezone), now)
        return schedules.set_paused(tx, schedule_id, paused, following, now)

    action = "schedule.pause" if paused else "schedule.resume"
    changed = await svc.database.write(audited(request, action, ("schedule", schedule_id), update, when=found))
    if changed is None:
        raise ApiError("not-found", "no such schedule")
    return changed

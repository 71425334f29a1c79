"""Cron schedules: admins write them, members read them; firing is scheduler.py's."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from ..errors import ApiError
from ..ids import new_id
from ..intake import batches, scheduler
from ..intake.batches import BulkRequest
from ..storage import schedules
from ..storage.database import Tx
from ..storage.schedules import Schedule
from ..tenants import Role
from .audit import audited, found
from .context import services
from .middleware import json_response, principal, read_model
from .routing import ITEMS, STRING, Routes, obj

api = Routes()
SCHEDULE = obj(
    ("id", "name", "cron", "timezone", "paused"),
    id=STRING,
    name=STRING,
    cron=STRING,
    timezone=STRING,
    paused={"type": "boolean"},
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


@api.post("/v1/schedules", role=Role.admin, body=ScheduleIn, status=201, response=SCHEDULE)
async def create_schedule(request: web.Request) -> web.Response:
    """Create a cron schedule that sends a bulk message at every firing."""
    svc, tenant_id = services(request), principal(request).tenant_id
    body = await read_model(request, ScheduleIn, svc.config.server.max_bulk_body_mb)
    await batches.prepare(svc, tenant_id, body)  # refused now, not at the first firing
    now = svc.clock.now()
    first = await scheduler.first_fire(body.cron, body.timezone, now)
    schedule_id = new_id("sch")
    request_json = json.dumps(body.model_dump(mode="json", exclude={"name", "cron", "timezone"}, exclude_none=True))
    created = await svc.database.write(
        audited(
            request,
            "schedule.create",
            ("schedule", schedule_id),
            lambda tx: schedules.insert(
                tx, schedule_id, tenant_id, body.name, body.cron, body.timezone, request_json, first, now
            ),
            after={"name": body.name, "cron": body.cron, "timezone": body.timezone},
        )
    )
    svc.coordinator.schedule_changed(schedule_id, body.cron, body.timezone)
    return json_response(scheduler.shape(created), status=201)


@api.get("/v1/schedules", response=ITEMS)
async def list_schedules(request: web.Request) -> web.Response:
    """List the tenant's schedules."""
    found = await schedules.of_tenant(services(request).database, principal(request).tenant_id)
    return json_response({"items": [scheduler.shape(s, with_recipients=False) for s in found]})


@api.get("/v1/schedules/{id}", response=SCHEDULE)
async def get_schedule(request: web.Request) -> web.Response:
    """Read a schedule with its next and last firing."""
    found = await schedules.get(services(request).database, request.match_info["id"], principal(request).tenant_id)
    if found is None:
        raise ApiError("not-found", "no such schedule")
    return json_response(scheduler.shape(found))


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
    return json_response(scheduler.shape(paused))


@api.post("/v1/schedules/{id}/resume", role=Role.admin, response=SCHEDULE)
async def resume(request: web.Request) -> web.Response:
    """Resume a paused schedule from its next firing after now."""
    svc = services(request)
    resumed = await _set_paused(request, request.match_info["id"], False)
    svc.coordinator.schedule_changed(resumed.id, resumed.cron, resumed.timezone)
    return json_response(scheduler.shape(resumed))


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

"""The dead-letter queue over HTTP: list (member), replay and delete (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..delivery import dlq
from ..errors import ApiError, invalid
from ..message import CHANNELS
from ..storage import jobs
from ..storage.database import Tx
from ..tenants import Role
from ..timefmt import parse
from .audit import audited, found
from .context import services
from .middleware import json_response, principal, read_model
from .params import CURSOR, LIMIT, choice, page_size
from .routing import PAGE, STRING, Param, Routes, obj

api = Routes()
# Ids one request may name: each is a bound SQL variable, and SQLite allows 32,766 per statement.
MAX_REPLAY_IDS = 1000
FILTERS = ("channel", "delivery_ids", "since", "until")
REPLAYED = obj(replayed={"type": "array", "items": STRING})
NO_FILTER = 'give a filter (channel, delivery_ids, since, until), or {"all": true} to replay every dead letter'


class ReplayFilter(BaseModel):
    """Which dead letters to replay: those matching every filter given, or ``all``."""

    model_config = ConfigDict(extra="forbid")
    all: bool = Field(False, description="replay every dead letter of the tenant; give no filter with it")
    channel: Literal["email", "sms", "push", "inapp", "webhook"] | None = None
    delivery_ids: (
        Annotated[list[Annotated[str, Field(max_length=100)]], Field(min_length=1, max_length=MAX_REPLAY_IDS)] | None
    ) = None
    since: str | None = None
    until: str | None = None

    @model_validator(mode="after")
    def _explicit(self) -> ReplayFilter:
        # An empty body once replayed the whole queue: a mistake that big must be asked for.
        filtered = any(getattr(self, name) is not None for name in FILTERS)
        if self.all and filtered:
            raise ValueError("all replays every dead letter; give it without filters")
        if not self.all and not filtered:
            raise ValueError(NO_FILTER)
        return self


@api.get("/v1/dlq", query=(Param("channel", {"enum": list(CHANNELS)}), LIMIT, CURSOR), response=PAGE)
async def list_dlq(request: web.Request) -> web.Response:
    """List the tenant's dead letters, newest first."""
    items, cursor = await dlq.entries(
        services(request).database,
        principal(request).tenant_id,
        choice(request, "channel", CHANNELS),
        page_size(request),
        request.query.get("cursor"),
    )
    return json_response({"items": items, "next_cursor": cursor})


@api.post("/v1/dlq/{delivery_id}/replay", role=Role.admin, status=202, response=REPLAYED)
async def replay_one(request: web.Request) -> web.Response:
    """Replay one dead letter: its delivery is queued again with fresh attempts."""
    svc = services(request)
    tenant_id, did, now = principal(request).tenant_id, request.match_info["delivery_id"], svc.clock.now()
    replayed = await svc.database.write(
        audited(request, "dlq.replay", ("delivery", did), lambda tx: dlq.replay(tx, did, now, tenant_id), when=found)
    )
    if replayed is None:
        raise ApiError("not-found", "no such delivery in the dead-letter queue")
    svc.coordinator.jobs_ready([replayed["channel"]])
    return json_response({"replayed": [did]}, status=202)


@api.post("/v1/dlq/replay", role=Role.admin, body=ReplayFilter, status=202, response=REPLAYED)
async def replay_many(request: web.Request) -> web.Response:
    """Replay the dead letters a filter matches, or every one with ``{"all": true}``."""
    svc = services(request)
    tenant_id, now = principal(request).tenant_id, svc.clock.now()
    if not request.can_read_body:
        raise invalid("all", NO_FILTER)
    f = await read_model(request, ReplayFilter)
    match = jobs.DeadFilter(
        tenant_id,
        f.channel,
        f.delivery_ids,
        parse("since", f.since) if f.since else None,
        parse("until", f.until) if f.until else None,
    )

    def replay_all(tx: Tx) -> list[dict[str, str]]:
        return [r for r in (dlq.replay(tx, did, now, tenant_id) for did in jobs.dead_ids(tx, match)) if r]

    # One entry for the whole replay, naming what it replayed (a filter may match thousands).
    replayed = await svc.database.write(
        audited(request, "dlq.replay", ("delivery", None), replay_all, after=f.model_dump(exclude_none=True), when=bool)
    )
    svc.coordinator.jobs_ready({r["channel"] for r in replayed})
    return json_response({"replayed": [r["delivery_id"] for r in replayed]}, status=202)


@api.delete("/v1/dlq/{delivery_id}", role=Role.admin)
async def delete_entry(request: web.Request) -> web.Response:
    """Drop a dead letter without replaying it."""
    svc = services(request)
    tenant_id, did = principal(request).tenant_id, request.match_info["delivery_id"]
    change = audited(request, "dlq.delete", ("delivery", did), lambda tx: jobs.delete_dead(tx, tenant_id, did))
    if not await svc.database.write(change):
        raise ApiError("not-found", "no such delivery in the dead-letter queue")
    return web.Response(status=204)

"""The dead-letter queue over HTTP: list (member), replay and delete (admin)."""

from __future__ import annotations

import sqlite3
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from .. import dlq, queue
from ..errors import ApiError
from ..services import services
from ..tenants import Role
from ..timefmt import parse
from .middleware import json_response, principal, read_model
from .notifications import page_size
from .routing import Routes

api = Routes()


class ReplayFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["email", "sms", "push", "inapp", "webhook"] | None = None
    delivery_ids: list[str] | None = None
    since: str | None = None
    until: str | None = None


@api.get("/v1/dlq")
async def list_dlq(request: web.Request) -> web.Response:
    items, cursor = await dlq.entries(
        services(request).database,
        principal(request).tenant_id,
        request.query.get("channel"),
        page_size(request),
        request.query.get("cursor"),
    )
    return json_response({"items": items, "next_cursor": cursor})


@api.post("/v1/dlq/{delivery_id}/replay", role=Role.admin)
async def replay_one(request: web.Request) -> web.Response:
    svc = services(request)
    tenant_id, did, now = principal(request).tenant_id, request.match_info["delivery_id"], svc.clock.now()
    replayed = await svc.database.write(lambda conn: dlq.replay(conn, did, now, tenant_id))
    if replayed is None:
        raise ApiError("not-found", "no such delivery in the dead-letter queue")
    if svc.pools:
        svc.pools.ready([replayed["channel"]])
    return json_response({"replayed": [did]}, status=202)


@api.post("/v1/dlq/replay", role=Role.admin, body=ReplayFilter)
async def replay_many(request: web.Request) -> web.Response:
    svc = services(request)
    tenant_id, now = principal(request).tenant_id, svc.clock.now()
    has_body = request.can_read_body and (request.content_length or 0) > 0
    f = await read_model(request, ReplayFilter) if has_body else ReplayFilter()
    where: list[str] = ["tenant_id = ?"]
    params: list[object] = [tenant_id]
    if f.channel:
        where.append("channel = ?")
        params.append(f.channel)
    if f.delivery_ids is not None:
        where.append(f"delivery_id IN ({','.join('?' * len(f.delivery_ids))})")
        params.extend(f.delivery_ids)
    for bound, op in (("since", ">="), ("until", "<")):
        value = getattr(f, bound)
        if value:
            where.append(f"dead_at {op} ?")
            params.append(parse(bound, value))

    def replay_all(conn: sqlite3.Connection) -> list[dict[str, str]]:
        ids = [r[0] for r in conn.execute(f"SELECT delivery_id FROM dead_letters WHERE {' AND '.join(where)}", params)]
        return [r for r in (dlq.replay(conn, did, now, tenant_id) for did in ids) if r]

    replayed = await svc.database.write(replay_all)
    if svc.pools:
        svc.pools.ready({r["channel"] for r in replayed})
    return json_response({"replayed": [r["delivery_id"] for r in replayed]}, status=202)


@api.delete("/v1/dlq/{delivery_id}", role=Role.admin)
async def delete_entry(request: web.Request) -> web.Response:
    svc = services(request)
    tenant_id, did = principal(request).tenant_id, request.match_info["delivery_id"]
    if not await svc.database.write(lambda conn: queue.delete_dead(conn, tenant_id, did)):
        raise ApiError("not-found", "no such delivery in the dead-letter queue")
    return web.Response(status=204)

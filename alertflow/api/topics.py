"""Topics: named sets of users that a publish (or a bulk send) can address at once."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from .. import naming
from ..errors import ApiError, invalid
from ..naming import ClientId
from ..storage import topic_members
from ..storage.database import Tx
from ..tenants import Role
from .context import services
from .middleware import json_response, principal, read_model, read_only, same_as_path
from .params import CURSOR, LIMIT, page_size
from .routing import COUNT, PAGE, STRING, Routes, obj

api = Routes()
# A PUT carries the whole list; bigger audiences are loaded in several PUTs with "mode": "add".
MAX_SUBSCRIBERS_PER_REQUEST = 100_000


class SubscribersIn(BaseModel):
    """A topic's subscribers as GET shows them: ``topic`` may be given and must be the path's."""

    model_config = ConfigDict(extra="forbid")
    topic: ClientId | None = None
    user_ids: list[ClientId] = Field(max_length=MAX_SUBSCRIBERS_PER_REQUEST)
    mode: Literal["replace", "add", "remove"] = "replace"
    count: Any = read_only()


@api.get("/v1/topics", response=PAGE, query=(LIMIT, CURSOR))
async def list_topics(request: web.Request) -> web.Response:
    """List the tenant's topics in order, each with its number of subscribers."""
    after = request.query.get("cursor") or ""
    if after and not naming.is_valid(after):
        raise invalid("cursor", "not a cursor this list gave")
    limit = page_size(request)
    found = await topic_members.topics(services(request).database, principal(request).tenant_id, after, limit + 1)
    items = [{"topic": topic, "count": count} for topic, count in found[:limit]]
    return json_response({"items": items, "next_cursor": items[-1]["topic"] if len(found) > limit else None})


@api.get(
    "/v1/topics/{key}/subscribers", response=obj(topic=STRING, user_ids={"type": "array", "items": STRING}, count=COUNT)
)
async def get_subscribers(request: web.Request) -> web.Response:
    """List a topic's subscribers."""
    key = request.match_info["key"]
    members = await topic_members.members(services(request).database, principal(request).tenant_id, key)
    if not members:
        raise ApiError("not-found", f"topic {key!r} has no subscribers")
    return json_response({"topic": key, "user_ids": members, "count": len(members)})


@api.put("/v1/topics/{key}/subscribers", role=Role.admin, body=SubscribersIn, response=obj(topic=STRING, count=COUNT))
async def put_subscribers(request: web.Request) -> web.Response:
    """Replace a topic's subscribers, or add or remove some (``mode``)."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    body = await read_model(request, SubscribersIn, svc.config.server.max_bulk_body_mb)
    same_as_path(request, "topic", body.topic, "key")
    user_ids = list(dict.fromkeys(body.user_ids))

    def save(tx: Tx) -> int:
        if body.mode == "replace":
            topic_members.clear(tx, tenant_id, key)
        if body.mode == "remove":
            topic_members.remove(tx, tenant_id, key, user_ids)
        else:
            topic_members.add(tx, tenant_id, key, user_ids)
        return topic_members.size_for_write(tx, tenant_id, key)

    count = await svc.database.write(save)
    return json_response({"topic": key, "count": count})


@api.delete("/v1/topics/{key}/subscribers", role=Role.admin)
async def delete_topic(request: web.Request) -> web.Response:
    """Remove every subscriber of a topic."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    deleted = await svc.database.write(lambda tx: topic_members.clear(tx, tenant_id, key))
    if not deleted:
        raise ApiError("not-found", f"topic {key!r} has no subscribers")
    return web.Response(status=204)

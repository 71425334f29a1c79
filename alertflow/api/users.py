"""Recipients: contact data, devices, locale and timezone of a tenant's users."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ApiError, invalid
from ..inbox.hub import HUB
from ..inbox.items import Subscriber
from ..intake.publish import Contact, JsonData
from ..naming import ClientId
from ..storage import users
from ..tenants import Role
from ..timefmt import check_timezone, iso
from .audit import audited
from .context import services
from .middleware import json_response, principal, read_model, read_only, same_as_path
from .routing import STRING, Routes, obj

api = Routes()
# A user's browsers: far more than anyone has, few enough that checking each endpoint when it
# is stored (a DNS lookup each, all at once) stays quick.
MAX_WEBPUSH = 50
USER = obj(("user_id", "created_at", "updated_at"), user_id=STRING, created_at=STRING, updated_at=STRING)


class WebPushSubscription(BaseModel):
    model_config = ConfigDict(extra="allow")
    endpoint: str = Field(pattern="^https?://")
    keys: dict[str, str]


class UserIn(Contact):
    """A user as GET shows it: ``user_id`` may be given and must be the path's; the times are ignored."""

    user_id: ClientId | None = None
    push_tokens: list[str] = []
    webpush: list[WebPushSubscription] = Field([], max_length=MAX_WEBPUSH)
    locale: str | None = Field(None, max_length=35)
    timezone: str | None = None
    name: str | None = None
    data: JsonData = {}
    created_at: Any = read_only()
    updated_at: Any = read_only()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return check_timezone(v)


def shape(user: users.User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "email": user.email,
        "phone": user.phone,
        "push_tokens": user.push_tokens,
        "webpush": user.webpush,
        "locale": user.locale,
        "timezone": user.timezone,
        "name": user.name,
        "data": user.data,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


async def _get(request: web.Request, tenant_id: str, user_id: str) -> users.User:
    found = await users.get(services(request).database, tenant_id, user_id)
    if found is None:
        raise ApiError("not-found", "no such user")
    return found


@api.put("/v1/users/{user_id}", role=Role.admin, body=UserIn, response=USER)
async def put_user(request: web.Request) -> web.Response:
    """Create or replace a user's contact data, devices, locale and timezone."""
    svc = services(request)
    tenant_id, user_id = principal(request).tenant_id, request.match_info["user_id"]
    user = await read_model(request, UserIn)
    same_as_path(request, "user_id", user.user_id)
    # A browser's endpoint is where a provider will connect: checked as a provider's URL is.
    refusals = await asyncio.gather(*(svc.channels.endpoint_refusal(s.endpoint) for s in user.webpush))
    for i, why in enumerate(refusals):
        if why is not None:
            raise invalid(f"webpush.{i}.endpoint", why)
    now = svc.clock.now()
    record = users.User(
        user_id=user_id,
        email=user.email,
        phone=user.phone,
        push_tokens=user.push_tokens,
        webpush=[s.model_dump() for s in user.webpush],
        locale=user.locale,
        timezone=user.timezone,
        name=user.name,
        data=user.data,
        created_at=now,
        updated_at=now,
    )
    await svc.database.write(lambda tx: users.put(tx, tenant_id, record))
    return json_response(shape(await _get(request, tenant_id, user_id)))


@api.get("/v1/users/{user_id}", response=USER)
async def get_user(request: web.Request) -> web.Response:
    """Read a user."""
    return json_response(shape(await _get(request, principal(request).tenant_id, request.match_info["user_id"])))


@api.delete("/v1/users/{user_id}", role=Role.admin)
async def delete_user(request: web.Request) -> web.Response:
    """Erase a user: contact data and inbox go; delivery counts stay, anonymised."""
    svc = services(request)
    tenant_id, user_id = principal(request).tenant_id, request.match_info["user_id"]
    change = audited(request, "user.erase", ("user", user_id), lambda tx: users.erase(tx, tenant_id, user_id))
    if not await svc.database.write(change):
        raise ApiError("not-found", "no such user")
    await request.app[HUB].forget(Subscriber(tenant_id, user_id))
    return web.Response(status=204)

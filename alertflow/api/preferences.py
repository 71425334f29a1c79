"""Preferences: a user's own, and the tenant's defaults that apply until a user overrides them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from aiohttp import web
from pydantic import ValidationError

from ..coordination import Cache
from ..errors import ApiError, from_validation, invalid_many
from ..recipients import categories, preferences
from ..recipients.preferences import TENANT_DEFAULTS, Preferences
from ..storage import preference_rows, users
from ..storage.database import Tx
from ..tenants import Role
from .audit import audited
from .context import services
from .middleware import json_response, principal, read_json
from .routing import Routes

# GET shows the very document PUT takes (GET -> change -> PUT round-trips).
DOCUMENT = {"$ref": "#/components/schemas/Preferences"}

api = Routes()


async def _document(request: web.Request, user_id: str) -> Preferences | None:
    found = await preference_rows.document(services(request).database, principal(request).tenant_id, user_id)
    return preferences.parse(found)


async def _user_exists(request: web.Request, user_id: str) -> None:
    if not await users.exists(services(request).database, principal(request).tenant_id, user_id):
        raise ApiError("not-found", "no such user")


async def _put(request: web.Request, user_id: str) -> web.Response:
    svc, tenant_id = services(request), principal(request).tenant_id
    try:
        doc = Preferences.model_validate(await read_json(request))
    except ValidationError as exc:
        raise from_validation(exc) from None
    errors = preferences.opt_out_errors(doc, await categories.all_for(svc.database, tenant_id))
    if errors:
        raise invalid_many(errors)
    document, now = doc.model_dump_json(exclude_none=True), svc.clock.now()

    change: Callable[[Tx], None] = partial(
        preference_rows.put_document, tenant_id=tenant_id, user_id=user_id, document=document, now=now
    )
    if user_id == TENANT_DEFAULTS:  # a user's own choices are theirs, not a change to audit
        before = await _document(request, user_id)
        shown = None if before is None else preferences.shape(before)
        change = audited(
            request, "preferences.defaults.update", ("preferences", user_id), change, shown, preferences.shape(doc)
        )
    await svc.database.write(change)
    if user_id == TENANT_DEFAULTS:
        svc.coordinator.invalidate(Cache.SETTINGS, preferences.cache_key(tenant_id))
    return json_response(preferences.shape(doc))


@api.get("/v1/users/{user_id}/preferences", response=DOCUMENT)
async def get_user_preferences(request: web.Request) -> web.Response:
    """Read a user's own preferences (the tenant's defaults apply where it sets none)."""
    user_id = request.match_info["user_id"]
    await _user_exists(request, user_id)
    return json_response(preferences.shape(await _document(request, user_id)))


@api.put("/v1/users/{user_id}/preferences", role=Role.admin, body=Preferences, response=DOCUMENT)
async def put_user_preferences(request: web.Request) -> web.Response:
    """Replace a user's preferences."""
    user_id = request.match_info["user_id"]
    await _user_exists(request, user_id)
    return await _put(request, user_id)


@api.get("/v1/preferences/defaults", response=DOCUMENT)
async def get_defaults(request: web.Request) -> web.Response:
    """Read the tenant's default preferences."""
    return json_response(preferences.shape(await _document(request, TENANT_DEFAULTS)))


@api.put("/v1/preferences/defaults", role=Role.admin, body=Preferences, response=DOCUMENT)
async def put_defaults(request: web.Request) -> web.Response:
    """Replace the tenant's default preferences."""
    return await _put(request, TENANT_DEFAULTS)

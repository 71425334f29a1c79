"""Preferences: a user's own, and the tenant's defaults that apply until a user overrides them."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ..coordination import Cache
from ..errors import ApiError, from_validation, invalid, invalid_many
from ..message import CHANNELS
from ..recipients import categories, preference_center, preferences
from ..recipients.preferences import TENANT_DEFAULTS, Preferences
from ..storage import preference_rows, users
from ..storage.database import Tx
from ..tenants import Role
from .audit import audited
from .context import Services, services
from .middleware import json_response, principal, read_json
from .routing import Routes

# GET shows the very document PUT takes (GET -> change -> PUT round-trips).
DOCUMENT = {"$ref": "#/components/schemas/Preferences"}

api = Routes()


async def _document(request: web.Request, user_id: str) -> Preferences | None:
    return await document(services(request), principal(request).tenant_id, user_id)


async def document(svc: Services, tenant_id: str, user_id: str) -> Preferences | None:
    """The stored preferences of a user (or of the tenant, as ``TENANT_DEFAULTS``)."""
    return preferences.parse(await preference_rows.document(svc.database, tenant_id, user_id))


async def _user_exists(request: web.Request, user_id: str) -> None:
    if not await users.exists(services(request).database, principal(request).tenant_id, user_id):
        raise ApiError("not-found", "no such user")


async def _put(request: web.Request, user_id: str) -> web.Response:
    return await put_document(request, principal(request).tenant_id, user_id)


async def put_document(request: web.Request, tenant_id: str, user_id: str) -> web.Response:
    """Replace the preferences with the request's body, as the PUT routes do."""
    try:
        doc = Preferences.model_validate(await read_json(request))
    except ValidationError as exc:
        raise from_validation(exc) from None
    await save(services(request), tenant_id, user_id, doc, request)
    return json_response(preferences.shape(doc))


async def save(
    svc: Services, tenant_id: str, user_id: str, doc: Preferences, request: web.Request | None = None
) -> None:
    """Store ``doc``; a 422 naming the category when it turns off one that may not be turned off.
    ``request``: the API call making the change, whose actor the audit log names."""
    errors = preferences.opt_out_errors(doc, await categories.all_for(svc.database, tenant_id))
    if errors:
        raise invalid_many(errors)
    text, now = doc.model_dump_json(exclude_none=True), svc.clock.now()
    change: Callable[[Tx], None] = partial(
        preference_rows.put_document, tenant_id=tenant_id, user_id=user_id, document=text, now=now
    )
    if user_id == TENANT_DEFAULTS and request is not None:  # a user's own choices are theirs, not audited
        before = await document(svc, tenant_id, user_id)
        shown = None if before is None else preferences.shape(before)
        change = audited(
            request, "preferences.defaults.update", ("preferences", user_id), change, shown, preferences.shape(doc)
        )
    await svc.database.write(change)
    if user_id == TENANT_DEFAULTS:
        svc.coordinator.invalidate(Cache.SETTINGS, preferences.cache_key(tenant_id))


async def choices_for(svc: Services, tenant_id: str, user_id: str) -> dict[str, Any]:
    """The preference center's view: every category, whether it may be turned off, each channel on or off."""
    known = await categories.all_for(svc.database, tenant_id)
    user, tenant = await document(svc, tenant_id, user_id), await document(svc, tenant_id, TENANT_DEFAULTS)
    return {"channels": list(CHANNELS), "categories": preference_center.choices(known, user, tenant)}


async def choose(svc: Services, tenant_id: str, user_id: str, category: str, channel: str, on: bool) -> None:
    """Turn one category's channel on or off; a 422 naming the field when that is not allowed."""
    if channel not in CHANNELS:
        raise invalid("channel", f"expected one of {', '.join(CHANNELS)}")
    current = await document(svc, tenant_id, user_id)
    await save(svc, tenant_id, user_id, preference_center.switched(current, category, channel, on))


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

"""The preference center: the inbox widget's settings (by inbox token) and the hosted page (by signed link).

Both show the categories the tenant lets people turn off, per channel, and save into the
user's own preferences; a category that may not be turned off is shown as always on and a
document turning it off is a 422 naming it.
"""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from .. import signing
from ..errors import ApiError
from ..inbox.items import Subscriber
from ..message import CHANNELS
from ..recipients import categories, preference_center
from ..recipients.preferences import Preferences, shape
from ..storage import users
from .context import Services, services
from .inbox import KEY_OR_TOKEN, SELF_AUTHORISED, subscriber
from .middleware import json_response
from .preferences import DOCUMENT, choices_for, document, put_document, save
from .routing import PUBLIC, Routes, obj

api = Routes()
CHOICES = obj(
    channels={"type": "array", "items": {"type": "string"}},
    categories={"type": "array", "items": {"type": "object"}},
)
INVALID_LINK = "this preferences link is not valid; use the newest one you received"

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width"><title>Choose what you receive</title><link rel="stylesheet" href="/static/page.css">
</head><body class="notice"><h1>Choose what you receive</h1>{notice}<form method="post" class="choices">
<table><thead><tr><th scope="col">Category</th>{heads}</tr></thead><tbody>{rows}</tbody></table>
<button type="submit">Save</button></form></body></html>"""


@api.get(
    "/v1/users/{user_id}/inbox/preferences",
    role=PUBLIC,
    access=KEY_OR_TOKEN,
    problems=SELF_AUTHORISED,
    response=DOCUMENT,
)
async def get_own_preferences(request: web.Request) -> web.Response:
    """Read the user's own preferences (by API key, or that user's inbox token)."""
    who = await subscriber(request)
    return json_response(shape(await document(services(request), who.tenant_id, who.user_id)))


@api.put(
    "/v1/users/{user_id}/inbox/preferences",
    role=PUBLIC,
    access=KEY_OR_TOKEN,
    problems=(*SELF_AUTHORISED, "validation", "malformed-json"),
    body=Preferences,
    response=DOCUMENT,
)
async def put_own_preferences(request: web.Request) -> web.Response:
    """Replace the user's own preferences (by API key, or that user's inbox token)."""
    who = await subscriber(request)
    return await put_document(request, who.tenant_id, who.user_id)


@api.get(
    "/v1/users/{user_id}/inbox/choices", role=PUBLIC, access=KEY_OR_TOKEN, problems=SELF_AUTHORISED, response=CHOICES
)
async def getchoices_for(request: web.Request) -> web.Response:
    """The tenant's categories with whether each may be turned off and which channels are on for this user."""
    who = await subscriber(request)
    return json_response(await choices_for(services(request), who.tenant_id, who.user_id))


# --- the hosted page -------------------------------------------------------------------------


async def _linked(request: web.Request) -> Subscriber:
    svc = services(request)
    try:
        tenant_id, user_id = svc.links.read_preferences(request.match_info["token"], svc.clock.now())
    except signing.InvalidToken:
        raise ApiError("forbidden", INVALID_LINK) from None
    if not await users.exists(svc.database, tenant_id, user_id):
        raise ApiError("not-found", "this recipient no longer exists")
    return Subscriber(tenant_id, user_id)


def _row(choice: dict[str, Any]) -> str:
    key, fixed, on = html.escape(choice["key"]), not choice["opt_out_allowed"], choice["channels"]
    cells = "".join(
        f'<td><input type="checkbox" name="on" value="{key}/{ch}" aria-label="{key} by {ch}"'
        f"{' checked' if fixed or on[ch] else ''}{' disabled' if fixed else ''}></td>"
        for ch in CHANNELS
    )
    note = ' <span class="muted">(always on)</span>' if fixed else ""
    return f'<tr><th scope="row">{key}{note}</th>{cells}</tr>'


async def _page(svc: Services, who: Subscriber, notice: str = "") -> web.Response:
    found = await choices_for(svc, who.tenant_id, who.user_id)
    heads = "".join(f'<th scope="col">{ch}</th>' for ch in CHANNELS)
    rows = "".join(_row(c) for c in found["categories"])
    text = PAGE.format(notice=notice, heads=heads, rows=rows)
    return web.Response(text=text, content_type="text/html")


@api.get(
    preference_center.PATH + "{token}",
    role=PUBLIC,
    access="the signed link itself",
    content="text/html",
    problems=("forbidden", "not-found"),
)
async def preference_page(request: web.Request) -> web.Response:
    """Show the user's choices as a form (from ``{{ preferences_url }}`` or an unsubscribe page)."""
    return await _page(services(request), await _linked(request))


@api.post(
    preference_center.PATH + "{token}",
    role=PUBLIC,
    access="the signed link itself",
    content="text/html",
    problems=("forbidden", "not-found"),
)
async def save_preference_page(request: web.Request) -> web.Response:
    """Save the page's form: ticked boxes are on, every other opt-out-able category and channel off."""
    svc, who = services(request), await _linked(request)
    form = await request.post()
    on = {(c, ch) for c, _, ch in (str(v).partition("/") for v in form.getall("on", []))}
    known = await categories.all_for(svc.database, who.tenant_id)
    current = await document(svc, who.tenant_id, who.user_id)
    await save(svc, who.tenant_id, who.user_id, preference_center.chosen(current, known, on))
    return await _page(svc, who, '<p id="message" class="ok" role="status">Saved.</p>')

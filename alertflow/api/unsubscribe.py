"""The pages behind one-click unsubscribe links: GET confirms, POST turns the category off."""

from __future__ import annotations

import html

from aiohttp import web

from .. import signing
from ..errors import ApiError
from ..recipients import unsubscribe
from .context import services
from .routing import PUBLIC, Routes

api = Routes()

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width"><title>{title}</title><link rel="stylesheet" href="/static/page.css"></head>
<body class="notice"><h1>{title}</h1><p>{text}</p>{form}</body></html>"""


def read(request: web.Request) -> tuple[str, str, str]:
    svc = services(request)
    try:
        return svc.links.read(request.match_info["token"], svc.clock.now())
    except signing.InvalidToken:
        raise ApiError("forbidden", "this unsubscribe link is not valid") from None


def choose_link(request: web.Request, tenant_id: str, user_id: str) -> str:
    """The way on to every other choice, for the person who only meant to drop one category."""
    svc = services(request)
    url = svc.links.preferences_url_for(tenant_id, user_id, svc.clock.now())
    return f'<p><a href="{html.escape(url or "")}">Choose what you receive</a></p>'


def page(title: str, text: str, form: str = "") -> web.Response:
    return web.Response(text=PAGE.format(title=title, text=text, form=form), content_type="text/html")


@api.get(
    unsubscribe.PATH + "{token}",
    role=PUBLIC,
    access="the signed link itself",
    content="text/html",
    problems=("forbidden",),
)
async def confirm(request: web.Request) -> web.Response:
    """Show the page confirming an unsubscribe: mail scanners follow GET links, so GET changes nothing."""
    tenant_id, user_id, category = read(request)
    return page(
        "Unsubscribe",
        f"Stop receiving <b>{html.escape(category)}</b> messages?",
        '<form method="post"><button type="submit">Unsubscribe</button></form>'
        + choose_link(request, tenant_id, user_id),
    )


@api.post(
    unsubscribe.PATH + "{token}",
    role=PUBLIC,
    access="the signed link itself",
    content="text/html",
    problems=("forbidden",),
)
async def unsubscribe_now(request: web.Request) -> web.Response:
    """Unsubscribe in one click (RFC 8058): a POST of ``List-Unsubscribe=One-Click`` or the page's form."""
    svc = services(request)
    tenant_id, user_id, category = read(request)
    now = svc.clock.now()
    if not await svc.database.write(lambda tx: unsubscribe.opt_out(tx, tenant_id, user_id, category, now)):
        raise ApiError("not-found", "this recipient no longer exists")
    return page(
        "Unsubscribed",
        f"You will no longer receive <b>{html.escape(category)}</b> messages.",
        choose_link(request, tenant_id, user_id),
    )

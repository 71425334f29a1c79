"""What the built-in outbox provider captured."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .. import signing
from ..errors import ApiError
from ..message import CHANNELS
from ..storage import outbox_messages
from ..templates import text
from ..timefmt import iso
from .context import services
from .headers import EMAIL_PREVIEW_POLICY, POLICY
from .middleware import json_response, principal
from .params import LIMIT, MAX_ROW_ID, choice, page_size, whole_number
from .routing import PAGE, PUBLIC, STRING, Param, Routes

api = Routes()
PREVIEW_PURPOSE = "outbox-preview"
# A preview link is a bearer credential to one email's HTML: it outlives a while of reading the
# Outbox page, and reloading the page mints fresh ones.
PREVIEW_TTL_SECONDS = 3600
PREVIEW_PATH = "/v1/outbox/{id}/html"
# The preview is the captured email as it was: a browser must fetch it anew, not keep a copy.
PREVIEW_HEADERS = {"Cache-Control": "no-store"}


QUERY = (
    Param("channel", {"enum": list(CHANNELS)}),
    LIMIT,
    Param("cursor", {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}, "the previous page's next_cursor"),
)


@api.get("/v1/outbox", query=QUERY, response=PAGE)
async def list_outbox(request: web.Request) -> web.Response:
    """List what the built-in outbox provider captured, newest first; an SMS with its encoding and segments."""
    svc = services(request)
    channel = choice(request, "channel", CHANNELS)
    cursor = request.query.get("cursor")
    before = whole_number("cursor", cursor, 1, MAX_ROW_ID) if cursor else None
    limit = page_size(request)
    rows = await outbox_messages.page(svc.database, principal(request).tenant_id, channel, limit + 1, before)
    now = svc.clock.now()
    items = [item(r, preview_url(svc.links.secret, r, now)) for r in rows[:limit]]
    next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    return json_response({"items": items, "next_cursor": next_cursor})


def item(row: dict[str, Any], preview: str | None = None) -> dict[str, Any]:
    """A captured message; an SMS also says how it travels (``info``: encoding, segments,
    characters), as a template preview does; an email with HTML links to its ``preview_url``."""
    out = {
        "id": row["id"],
        "delivery_id": row["delivery_id"],
        "notification_id": row["notification_id"],
        "channel": row["channel"],
        "recipient": json.loads(row["recipient"]),
        "content": json.loads(row["content"]),
        "created_at": iso(row["created_at"]),
    }
    if row["channel"] == "sms" and isinstance(out["content"].get("body"), str):
        out["info"] = text.sms_info(out["content"]["body"])
    if preview is not None:
        out["preview_url"] = preview
    return out


def _email_html(row: dict[str, Any]) -> str | None:
    content = json.loads(row["content"]) if row["channel"] == "email" else {}
    html = content.get("html")
    return html if isinstance(html, str) and html else None


def preview_url(secret: str, row: dict[str, Any], now: float) -> str | None:
    """A path on this server to the email's HTML, signed for its tenant and id; None for
    anything but an email with an HTML part. A path, not an absolute URL: the dashboard frames
    it from the origin it was opened on, whatever server.public_url says."""
    if _email_html(row) is None:
        return None
    claims = {"t": row["tenant_id"], "o": row["id"]}
    token = signing.sign(secret, PREVIEW_PURPOSE, claims, PREVIEW_TTL_SECONDS, now)
    return f"{PREVIEW_PATH.format(id=row['id'])}?token={token}"


def _previewed(request: web.Request) -> tuple[str, int]:
    """(tenant, outbox id) of the request's genuine, unexpired link for the id in its path."""
    svc = services(request)
    try:
        token = request.query.get("token", "")
        claims = signing.verify(svc.links.secret, PREVIEW_PURPOSE, token, svc.clock.now())
    except signing.ExpiredToken:
        raise ApiError("forbidden", "this preview link has expired: open the message again from the Outbox") from None
    except signing.InvalidToken:
        raise ApiError("forbidden", "open the preview through its item's preview_url (GET /v1/outbox)") from None
    if str(claims["o"]) != request.match_info["id"]:
        raise ApiError("forbidden", "this preview link is for another message")
    return claims["t"], int(claims["o"])


@api.get(
    PREVIEW_PATH,
    role=PUBLIC,
    access="a signed preview link (an item's preview_url)",
    content="text/html",
    problems=("forbidden",),
    query=(Param("token", STRING, "from the item's preview_url", required=True),),
)
async def email_preview(request: web.Request) -> web.Response:
    """Serve a captured email's HTML under a policy of its own: its inline styles, no script, no remote image."""
    tenant_id, message_id = _previewed(request)
    row = await outbox_messages.one(services(request).database, tenant_id, message_id)
    html = _email_html(row) if row is not None else None
    if html is None:
        raise ApiError("not-found", "no captured email with an HTML part has this id: it may have been purged")
    request[POLICY] = EMAIL_PREVIEW_POLICY
    return web.Response(text=html, content_type="text/html", headers=PREVIEW_HEADERS)

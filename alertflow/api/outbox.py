"""What the built-in outbox provider captured."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..message import CHANNELS
from ..storage import outbox_messages
from ..templates import text
from ..timefmt import iso
from .context import services
from .middleware import json_response, principal
from .params import LIMIT, MAX_ROW_ID, choice, page_size, whole_number
from .routing import PAGE, Param, Routes

api = Routes()


QUERY = (
    Param("channel", {"enum": list(CHANNELS)}),
    LIMIT,
    Param("cursor", {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}, "the previous page's next_cursor"),
)


@api.get("/v1/outbox", query=QUERY, response=PAGE)
async def list_outbox(request: web.Request) -> web.Response:
    """List what the built-in outbox provider captured, newest first; an SMS with its encoding and segments."""
    channel = choice(request, "channel", CHANNELS)
    cursor = request.query.get("cursor")
    before = whole_number("cursor", cursor, 1, MAX_ROW_ID) if cursor else None
    limit = page_size(request)
    rows = await outbox_messages.page(
        services(request).database, principal(request).tenant_id, channel, limit + 1, before
    )
    items = [item(r) for r in rows[:limit]]
    next_cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    return json_response({"items": items, "next_cursor": next_cursor})


def item(row: dict[str, Any]) -> dict[str, Any]:
    """A captured message; an SMS also says how it travels (``info``: encoding, segments,
    characters), as a template preview does."""
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
    return out

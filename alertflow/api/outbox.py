"""What the built-in outbox provider captured."""

from __future__ import annotations

import json

from aiohttp import web

from ..message import CHANNELS
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
    """List what the built-in outbox provider captured, newest first."""
    where: list[str] = ["tenant_id = ?"]
    params: list[object] = [principal(request).tenant_id]
    channel = choice(request, "channel", CHANNELS)
    if channel:
        where.append("channel = ?")
        params.append(channel)
    if request.query.get("cursor"):
        where.append("id < ?")
        params.append(whole_number("cursor", request.query["cursor"], 1, MAX_ROW_ID))
    limit = page_size(request)
    rows = await services(request).database.fetchall(
        f"SELECT * FROM outbox WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*params, limit + 1)
    )
    items = [
        {
            "id": r["id"],
            "delivery_id": r["delivery_id"],
            "notification_id": r["notification_id"],
            "channel": r["channel"],
            "recipient": json.loads(r["recipient"]),
            "content": json.loads(r["content"]),
            "created_at": iso(r["created_at"]),
        }
        for r in rows[:limit]
    ]
    cursor = str(rows[limit - 1]["id"]) if len(rows) > limit else None
    return json_response({"items": items, "next_cursor": cursor})

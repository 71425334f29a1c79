"""What the built-in outbox provider captured."""

from __future__ import annotations

import json

from aiohttp import web

from ..services import services
from ..timefmt import iso
from .middleware import json_response, principal
from .notifications import page_size
from .routing import Routes

api = Routes()


@api.get("/v1/outbox")
async def list_outbox(request: web.Request) -> web.Response:
    where: list[str] = ["tenant_id = ?"]
    params: list[object] = [principal(request).tenant_id]
    if request.query.get("channel"):
        where.append("channel = ?")
        params.append(request.query["channel"])
    if request.query.get("cursor", "").isdigit():
        where.append("id < ?")
        params.append(int(request.query["cursor"]))
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

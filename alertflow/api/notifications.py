"""Publishing and reading notifications."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from ..delivery import tracking
from ..errors import ApiError, invalid
from ..intake import gating, idempotency
from ..intake.audience import announce, audience_for, recipients_of
from ..intake.publish import PublishRequest, plan, store
from ..message import CHANNELS
from ..storage import jobs
from ..timefmt import parse
from .context import services
from .middleware import json_response, principal, read_model
from .params import CURSOR, LIMIT, choice, page_size
from .routing import OBJECT, PAGE, STRING, Param, Routes, obj

api = Routes()
log = logging.getLogger("alertflow.publish")
STATUSES = (
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "suppressed",
    "dead",
    "cancelled",
    "digested",  # collected into a digest notification, which went in its place
)
MAX_IDEMPOTENCY_KEY = 255
# A recipient search's length: past any id, address or number it could match.
MAX_SEARCH = 200
TIME = {"type": "string", "format": "date-time"}
PUBLISHED = obj(
    notifications={
        "type": "array",
        "items": obj(id=STRING, recipient=OBJECT, status={"enum": ["queued", "scheduled", "suppressed", "digested"]}),
    }
)
NOTIFICATION = obj(("id", "status", "deliveries"), id=STRING, status=STRING, deliveries={"type": "array"})
LIST_QUERY = (
    Param("status", {"enum": list(STATUSES)}),
    Param("channel", {"enum": list(CHANNELS)}),
    Param("user_id", {"type": "string"}),
    Param("category", {"type": "string"}),
    Param("since", TIME, "created at or after (RFC 3339)"),
    Param("until", TIME, "created before (RFC 3339)"),
    Param(
        "q",
        {"type": "string", "maxLength": MAX_SEARCH},
        "recipient search: a user id, email or phone (the user's record's too) holding this text, in any case",
    ),
    LIMIT,
    CURSOR,
)


@api.post("/v1/notifications/publish", body=PublishRequest, status=202, response=PUBLISHED, problems=("rate-limited",))
async def publish(request: web.Request) -> web.Response:
    """Publish a notification to one or up to 1000 recipients, now or at a set time."""
    svc = services(request)
    tenant_id = principal(request).tenant_id
    await svc.limiter.check(tenant_id)
    raw_key = idempotency_key_of(request)
    req = await read_model(request, PublishRequest)
    key = idempotency.key_for(raw_key, request.method, request.path, req)
    # A repeat gets its first answer even if it would no longer validate (a template since deleted).
    earlier = await idempotency.earlier_response(svc.database, tenant_id, key, svc.clock.now())
    if earlier is not None:
        return json_response(earlier, status=202)
    recipients_in = await recipients_of(svc.database, tenant_id, req)
    audience = await audience_for(svc, tenant_id, req, recipients_in, with_options=True)
    now = svc.clock.now()
    p = plan(req, recipients_in, audience, now)
    if audience.send_options is not None:
        gating.prepare(p, audience.send_options, audience.channels, audience, now)
    response, created = await svc.database.write(lambda conn: store(conn, tenant_id, key, p, now))
    if created:
        announce(svc, p)
    return json_response(response, status=202)


def idempotency_key_of(request: web.Request) -> str | None:
    key = request.headers.get(idempotency.HEADER)
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise invalid(idempotency.HEADER, f"give 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return key


@api.get("/v1/notifications/{id}", response=NOTIFICATION)
async def get_notification(request: web.Request) -> web.Response:
    """Read one notification with its deliveries and every attempt."""
    found = await tracking.get(services(request).database, principal(request).tenant_id, request.match_info["id"])
    if found is None:
        raise ApiError("not-found", "no such notification")
    return json_response(found)


@api.get("/v1/notifications", query=LIST_QUERY, response=PAGE)
async def list_notifications(request: web.Request) -> web.Response:
    """List notifications, newest first, filtered by status, channel, user, category, time and recipient."""
    q = request.query
    filters: dict[str, Any] = {
        "status": choice(request, "status", STATUSES),
        "channel": choice(request, "channel", CHANNELS),
        **{k: q.get(k) for k in ("user_id", "category", "q")},
    }
    if len(q.get("q", "")) > MAX_SEARCH:
        raise invalid("q", f"give at most {MAX_SEARCH} characters")
    for bound in ("since", "until"):
        if q.get(bound):
            filters[bound] = parse(bound, q[bound])
    if "since" in filters and "until" in filters and filters["since"] >= filters["until"]:
        raise invalid("since", "must be before until")
    items, cursor = await tracking.page(
        services(request).database, principal(request).tenant_id, filters, page_size(request), q.get("cursor")
    )
    return json_response({"items": items, "next_cursor": cursor})


@api.post("/v1/notifications/{id}/cancel", response=NOTIFICATION)
async def cancel(request: web.Request) -> web.Response:
    """Cancel a notification's deliveries that are still scheduled or queued."""
    svc = services(request)
    tenant_id = principal(request).tenant_id
    nid = request.match_info["id"]
    now = svc.clock.now()
    cancelled = await svc.database.write(lambda tx: jobs.cancel(tx, tenant_id, nid, now))
    if cancelled is None:
        raise ApiError("not-found", "no such notification")
    for did in cancelled:
        log.info(
            "cancelled",
            extra={"event": "delivery.cancelled", "tenant_id": tenant_id, "notification_id": nid, "delivery_id": did},
        )
    return json_response(await tracking.get(svc.database, tenant_id, nid))

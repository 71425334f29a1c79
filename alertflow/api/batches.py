"""Bulk sends: accept a batch, show its progress by delivery status, cancel what is unsent."""

from __future__ import annotations

from aiohttp import web

from .. import batches, recipients
from ..batches import BulkRequest, NewBatch
from ..errors import ApiError, invalid
from ..services import Services, services
from .middleware import json_response, principal, read_model
from .notifications import audience_for, idempotency_key_of
from .routing import Routes

api = Routes()


@api.post("/v1/notifications/bulk")
async def bulk(request: web.Request) -> web.Response:
    """202 once the batch and its recipients are committed; the fan-out follows (fanout.py).
    The same ``Idempotency-Key`` returns the first batch and stores nothing new."""
    svc = services(request)
    tenant_id = principal(request).tenant_id
    svc.limiter.check(tenant_id)
    key = idempotency_key_of(request)
    req = await read_model(request, BulkRequest, svc.config.server.max_bulk_body_mb)
    batch = await new_batch(svc, tenant_id, req, f"request:{key}" if key else None)
    now = svc.clock.now()
    batch_id, count, created = await svc.database.write(lambda conn: batches.store(conn, batch, now))
    if created and svc.fanout:
        svc.fanout.submitted()
    return json_response({"batch_id": batch_id, "recipients": count}, status=202)


async def new_batch(svc: Services, tenant_id: str, req: BulkRequest, dedupe_key: str | None = None) -> NewBatch:
    """A bulk body checked as a publish is (category, template, variables, channels), with
    its recipients, or its topic's subscribers counted."""
    if req.to is not None:
        await batches.check_recipients(req.to)
        count = len(req.to)
    else:
        assert req.topic is not None
        count = await recipients.topic_size(svc.database, tenant_id, req.topic)
        if not count:
            raise invalid("topic", f"topic {req.topic!r} has no subscribers")
    audience = await audience_for(svc, tenant_id, req, [])
    return NewBatch(tenant_id, batches.message_of(req, audience.template_version), count, req.topic, req.to, dedupe_key)


@api.get("/v1/batches/{id}")
async def get_batch(request: web.Request) -> web.Response:
    found = await batches.view(services(request).database, principal(request).tenant_id, request.match_info["id"])
    if found is None:
        raise ApiError("not-found", "no such batch")
    return json_response(found)


@api.post("/v1/batches/{id}/cancel")
async def cancel_batch(request: web.Request) -> web.Response:
    """Stops the fan-out and cancels every delivery not yet being sent; answers when done."""
    svc, tenant_id, batch_id = services(request), principal(request).tenant_id, request.match_info["id"]
    now = svc.clock.now()
    status = await svc.database.write(lambda conn: batches.begin_cancel(conn, tenant_id, batch_id, now))
    if status is None:
        raise ApiError("not-found", "no such batch")
    if status == batches.CANCELLING:
        await batches.cancel_unsent(svc.database, tenant_id, batch_id, now)
    return json_response(await batches.view(svc.database, tenant_id, batch_id))
